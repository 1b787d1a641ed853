"""``manage.py failures``: files the settled traces, then prints the window's groups (or the
empty state, or JSON); a window it does not know is refused."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import CommandError, call_command

from synthetic import builders
from synthetic.builders import BASE_NS, S
from tests.telemetry.test_failures import stored

pytestmark = pytest.mark.django_db(databases="__all__")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("failures", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def failed_orders() -> list[str]:
    settled = time.time_ns() - 60 * S
    shift = (time.time_ns() - BASE_NS) / S - 300
    return [
        stored(builders.retried_db_timeouts(), f"cmd-{n}", shift_s=shift + n, now_ns=settled)[1]
        for n in range(12)
    ]


def test_it_prints_each_group_with_its_orders_and_example(failed_orders, settings):
    text = run()
    assert text.startswith("12 orders affected, 12 traces, in 1 group over 1 h.")
    assert (
        "[error NEW] orders-worker · UPDATE orders_order · database timeout · sqlite3.OperationalError"
        " · fault order_db_timeout" in text
    )
    assert "money: 12 voided · stock: 12 released" in text
    assert text.count("    order ") == 10 and "… and 2 more (--orders)" in text
    assert f"newest: {settings.THREADLINE_BASE_URL}/traces/" in text
    assert all(order in run("--orders", "--no-update") for order in failed_orders)


def test_json_and_the_empty_state(failed_orders):
    body = json.loads(run("--json"))
    assert body["groups"][0]["count"] == 12
    assert run("--kind", "slow") == "No failures in this window (1 h).\n"


def test_an_unknown_window_is_refused():
    with pytest.raises(CommandError, match="--window must be one of"):
        run("--window", "2d")
