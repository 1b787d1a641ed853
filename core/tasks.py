"""Asking another app's worker for work: a task named by its owner's ``client.py`` with JSON
arguments, published by name. No app imports another's task functions (``.importlinter``):
the owner's client builds the message, the caller decides how it travels, at once
(``send``) or durably through its own outbox (orders writes the message with the state
change that calls for it). ``run_step`` is the one shape of the saga's step tasks that
other apps' workers run for orders (capture, commit, cancel, release)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from celery import Task, current_app
from django.db import DatabaseError

from core.api import ApplicationError
from core.text import counted


@dataclass(frozen=True)
class TaskMessage:
    """A task to run in its owner's worker: its registered name and JSON keyword arguments
    (ids and keys as strings). Celery routes it to the owner's queue by the name's app."""

    name: str
    kwargs: dict[str, str] = field(default_factory=dict)


def send(message: TaskMessage) -> None:
    """Publish ``message`` now, under the current trace context (the run is its child).
    Raises what the broker raises when it cannot take it."""
    current_app.send_task(message.name, kwargs=message.kwargs)


# --- The shape of a saga step task (issue 13) ----------------------------------------------
# Payments' capture and cancel, inventory's commit and release are one shape: mark the run's
# span, run the idempotent service, retry a DatabaseError with backoff, report to orders.
# It lives here, beside ``send``, so each task states only what differs. core imports no
# instrumentation and no app (``.importlinter``): the span marking comes in as a
# ``StepTrace`` (instrumentation.context's ``CONFIRMATION_STEP`` / ``UNDO_STEP``), the
# report as a ``TaskMessage`` built by orders' client, the fault checkpoint as a callable.


class StepTrace(Protocol):
    """How a step's run is marked on its span (satisfied by instrumentation.context.StepSpan)."""

    def started(self, *, order_id: str, attempt: int, step: str) -> None: ...
    def failed(self, exc: BaseException) -> None: ...
    def ended(self, outcome: str) -> None: ...
    def trace_id(self) -> str: ...


@dataclass(frozen=True)
class StepRetry:
    """A step's answer to a ``DatabaseError``: run again after 1, 2, 4 … s (at most
    ``max_countdown``), up to ``max_retries`` times. A step that ``reports_failure`` then
    reports ``failed`` (and so does a refusal, an ``ApplicationError``); one that does not
    lets the error end the task (Celery's retry re-raises it) and orders' reconcile asks
    again. The limit is passed to each retry, so the task needs none of its own."""

    max_retries: int
    max_countdown: int | None = None
    reports_failure: bool = False

    def countdown(self, attempt: int) -> int:
        delay = 2 ** (attempt - 1)
        return delay if self.max_countdown is None else min(self.max_countdown, delay)


@dataclass(frozen=True)
class StepOutcome:
    """What a step left, as it is reported: ``done``/``failed``, ``voided``, ``released`` …"""

    outcome: str
    detail: str = ""


def run_step(
    task: Task,
    *,
    order_id: str,
    step: str,
    action: str,
    subject: str,
    trace: StepTrace,
    retry: StepRetry,
    work: Callable[[], StepOutcome],
    report: Callable[[StepOutcome], TaskMessage],
    before_report: Callable[[], object],
    logger: logging.Logger,
) -> str:
    """Run one attempt of a step task: ``work`` (the service), then ``before_report`` (a
    fault checkpoint) and ``send(report(outcome))``; returns the outcome. ``action`` and
    ``subject`` name it in the log and the failure's detail ("capture of order …'s payment")."""
    attempt = task.request.retries + 1
    trace.started(order_id=order_id, attempt=attempt, step=step)
    try:
        result = work()
    except DatabaseError as exc:
        trace.failed(exc)
        if not (retry.reports_failure and attempt > retry.max_retries):
            countdown = retry.countdown(attempt)
            logger.warning(
                "%s of order %s's %s failed (attempt %d, trace %s), retrying in %ds: %s",
                action,
                order_id,
                subject,
                attempt,
                trace.trace_id(),
                countdown,
                exc,
            )
            raise task.retry(exc=exc, countdown=countdown, max_retries=retry.max_retries) from exc
        gave_up = f"{action} gave up after {counted(attempt, 'attempt')}: {type(exc).__name__}: {exc}"
        result = StepOutcome("failed", gave_up)
    except ApplicationError as exc:  # not transient: refused for good
        if not retry.reports_failure:
            raise
        trace.failed(exc)
        result = StepOutcome("failed", f"{action} refused: {exc.code}: {exc.message}")
    trace.ended(result.outcome)
    before_report()
    send(report(result))
    return result.outcome
