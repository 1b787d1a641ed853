"""The one shape of the saga's step tasks (``core.tasks.run_step``), on a stand-in task and
span: what each retry policy does with a database error and a refusal, and that the
checkpoint comes after the span's outcome and before the report. The real tasks are tested
in tests/payments/test_tasks.py and tests/inventory/test_tasks.py."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import cast

import pytest
from celery import Task
from django.db import OperationalError

from core.api import ApplicationError
from core.tasks import StepOutcome, StepRetry, TaskMessage, run_step

logger = logging.getLogger(__name__)


class Retried(Exception):
    pass


class StandInTask:
    """What run_step uses of a bound Celery task: its retry count and ``retry`` (which,
    past the ``max_retries`` it is given, re-raises ``exc`` in Celery)."""

    def __init__(self, retries: int) -> None:
        self.request = SimpleNamespace(retries=retries)
        self.countdowns: list[int] = []
        self.limits: list[int] = []

    def retry(self, *, exc: BaseException, countdown: int, max_retries: int) -> Exception:
        self.countdowns.append(countdown)
        self.limits.append(max_retries)
        return Retried()


class RecordedTrace:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def started(self, *, order_id: str, attempt: int, step: str) -> None:
        self.calls.append(("started", attempt, step))

    def failed(self, exc: BaseException) -> None:
        self.calls.append(("failed", type(exc).__name__))

    def ended(self, outcome: str) -> None:
        self.calls.append(("ended", outcome))

    def trace_id(self) -> str:
        return "0" * 32


def step(task: StandInTask, retry: StepRetry, work, trace: RecordedTrace, sent: list) -> str:
    return run_step(
        cast(Task, task),
        order_id="o-1",
        step="capture",
        action="capture",
        subject="payment",
        trace=trace,
        retry=retry,
        work=work,
        before_report=lambda: trace.calls.append(("checkpoint",)),
        report=lambda done: TaskMessage("record", {"outcome": done.outcome, "detail": done.detail}),
        logger=logger,
    )


@pytest.fixture
def sent(monkeypatch) -> list[TaskMessage]:
    published: list[TaskMessage] = []
    monkeypatch.setattr("core.tasks.send", published.append)
    return published


CONFIRM = StepRetry(max_retries=5, reports_failure=True)
UNDO = StepRetry(max_retries=8, max_countdown=60)


def locked() -> StepOutcome:
    raise OperationalError("database is locked")


class Conflict(ApplicationError):
    code = "payment_state_conflict"


def refused() -> StepOutcome:
    raise Conflict("no longer capturable")


def test_backoff_doubles_and_the_undo_policy_caps_it_at_a_minute():
    assert [CONFIRM.countdown(attempt) for attempt in (1, 2, 5, 8)] == [1, 2, 16, 128]
    assert [UNDO.countdown(attempt) for attempt in (1, 6, 7, 9)] == [1, 32, 60, 60]


def test_a_step_that_ran_marks_its_outcome_then_passes_the_checkpoint_then_reports(sent):
    trace = RecordedTrace()
    outcome = step(StandInTask(0), CONFIRM, lambda: StepOutcome("done", "payment captured"), trace, sent)
    assert outcome == "done"
    assert trace.calls == [("started", 1, "capture"), ("ended", "done"), ("checkpoint",)]
    assert sent == [TaskMessage("record", {"outcome": "done", "detail": "payment captured"})]


@pytest.mark.parametrize("retry", [CONFIRM, UNDO])
def test_a_database_error_within_the_retries_is_retried_and_not_reported(sent, retry):
    task, trace = StandInTask(retries=3), RecordedTrace()
    with pytest.raises(Retried):
        step(task, retry, locked, trace, sent)
    assert (task.countdowns, task.limits, sent) == ([8], [retry.max_retries], [])
    assert trace.calls == [("started", 4, "capture"), ("failed", "OperationalError")]


def test_a_confirmation_step_out_of_retries_reports_failed(sent):
    trace = RecordedTrace()
    assert step(StandInTask(retries=5), CONFIRM, locked, trace, sent) == "failed"
    [report] = sent
    assert report.kwargs["detail"] == "capture gave up after 6 attempts: OperationalError: database is locked"
    assert trace.calls[-2:] == [("ended", "failed"), ("checkpoint",)]


def test_an_undo_step_out_of_retries_leaves_it_to_celery_and_reconcile(sent):
    """Celery's ``retry`` past ``max_retries`` re-raises the error: nothing is reported."""
    task = StandInTask(retries=8)
    with pytest.raises(Retried):
        step(task, UNDO, locked, RecordedTrace(), sent)
    assert (task.countdowns, task.limits, sent) == ([60], [8], [])


def test_a_refusal_is_reported_failed_by_a_confirmation_step_and_raised_by_an_undo_step(sent):
    trace = RecordedTrace()
    assert step(StandInTask(0), CONFIRM, refused, trace, sent) == "failed"
    assert sent[0].kwargs["detail"] == "capture refused: payment_state_conflict: no longer capturable"
    assert ("failed", "Conflict") in trace.calls
    with pytest.raises(ApplicationError):
        step(StandInTask(0), UNDO, refused, RecordedTrace(), sent)
    assert len(sent) == 1
