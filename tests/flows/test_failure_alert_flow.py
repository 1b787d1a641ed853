"""The new-group mail on the real stack: orders start failing in a way not seen before
(payments unreachable), beat's alert task groups the settled traces and mails the admins,
the cause's diagnosis and the group's link in the mail's first lines. The time from the
first failed checkout to the mail is printed (the issue's target: under one alert interval
plus 10 s); it is not asserted, the machine may be loaded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_string, policy
from pathlib import Path

import pytest

from tests.flows.conftest import Stack, running_stack

pytestmark = pytest.mark.flow

INTERVAL = 10  # seconds between runs of the alert task


@pytest.fixture(scope="module")
def mailing_stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("alert-stack"),
        TELEMETRY_ALERT_INTERVAL=str(INTERVAL),
        DJANGO_ADMINS="Ops:ops@threadline.test",
    ) as stack:
        yield stack


def mails(stack: Stack) -> list:
    folder = Path(stack.env["THREADLINE_VAR_DIR"]) / "mail"
    return [message_from_string(p.read_text(), policy=policy.default) for p in sorted(folder.glob("*.log"))]


def diagnostics(stack: Stack) -> str:
    worker = stack.log_path("worker").read_text().splitlines()
    beat = stack.log_path("beat").read_text().splitlines()
    alert_lines = [line for line in worker if "evaluate_alerts" in line or "failure" in line.lower()]
    grouped = stack.manage("failures", "--no-update", "--window", "15m")
    return "\n".join(alert_lines[-15:] + beat[-5:] + [grouped])


def test_a_new_cause_mails_its_diagnosis_and_link(mailing_stack):
    stack = mailing_stack
    stack.set_faults("payments_unreachable=1.0")
    started = time.monotonic()
    body = stack.checkout([("WEBCAM-1080", 1)]).json()
    order_id = body["extra"]["order_id"]
    stack.manage("faults", "reset")  # the undoing needs payments back

    deadline = started + 180

    def about_this_failure(mail) -> bool:
        # Another cause may be mailed too on a loaded machine (reconcile meeting a locked
        # SQLite database is a failure of its own; CI on PostgreSQL saw a slow orders-worker
        # trace of the same minutes, which named the fault further down): the test is about
        # the mail whose first line, the diagnosis, names this cause.
        first_line = mail.get_content().split("\n", 1)[0]
        return "New failure group" in str(mail["Subject"]) and "payments_unreachable" in first_line

    while not (found := [m for m in mails(stack) if about_this_failure(m)]):
        assert time.monotonic() < deadline, "no new-group mail within 180 s:\n" + diagnostics(stack)
        time.sleep(0.5)
    latency = time.monotonic() - started
    time.sleep(INTERVAL)  # a second mail for the same cause would have come by now
    found = [m for m in mails(stack) if about_this_failure(m)]
    assert len(found) == 1, [str(m["Subject"]) for m in mails(stack)]
    [mail] = found
    text = mail.get_content()
    first, second = text.splitlines()[:2]
    assert first.startswith("New failure: shop: POST") and "ConnectionError" in first
    assert "payments_unreachable" in first
    assert second.startswith(f"{stack.url}/traces/failures/#group-")
    print(f"\nfirst failed checkout → new-group mail: {latency:.1f} s (alert interval {INTERVAL} s)")
    assert stack.wait_for_status(order_id, {"failed"}, timeout=120)["status"] == "failed"
