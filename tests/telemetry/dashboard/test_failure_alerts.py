"""A new failure group mails the admins once, in the alert task's run: its diagnosis sentence
and its link in the first lines; a group seen before is not mailed again."""

from __future__ import annotations

import time

import pytest

from synthetic import builders
from synthetic.builders import BASE_NS, S
from telemetry.dashboard.alerts import failure_groups_evaluate
from telemetry.models import FailureGroup
from telemetry.tasks import evaluate_alerts
from tests.telemetry.test_failures import stored

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def admins(settings) -> None:
    settings.ADMINS = [("Ops", "ops@threadline.test")]


def failed(name: str) -> str:
    """An order failed by database timeouts a minute ago, stored 30 s ago (settled)."""
    shift = (time.time_ns() - BASE_NS) / S - 60
    return stored(builders.retried_db_timeouts(), name, shift_s=shift, now_ns=time.time_ns() - 30 * S)[0]


def test_a_new_group_mails_its_diagnosis_and_link_first_then_never_again(mailoutbox, settings):
    failed("first")
    assert failure_groups_evaluate() == {"grouped": 1, "new_groups": 1}
    [mail] = mailoutbox
    group = FailureGroup.objects.get()
    assert mail.to == ["ops@threadline.test"]
    signature = (
        "orders-worker | UPDATE orders_order | database timeout | sqlite3.OperationalError"
        " | fault order_db_timeout"
    )
    assert mail.subject == f"[Django] New failure group: {signature}"
    first, second = mail.body.splitlines()[:2]
    assert first == f"New failure: {group.summary}"
    assert group.summary.startswith("orders-worker: UPDATE orders_order was stopped by the database")
    assert second == f"{settings.THREADLINE_BASE_URL}/traces/failures/#group-{group.pk}"

    failed("second")  # the same cause: no news
    assert failure_groups_evaluate() == {"grouped": 1}
    assert len(mailoutbox) == 1


def test_the_beat_task_groups_and_mails_after_the_rules(mailoutbox):
    failed("beat")
    result = evaluate_alerts.apply()
    assert result.successful(), result.traceback
    assert result.result == {"grouped": 1, "new_groups": 1}
    assert len(mailoutbox) == 1
