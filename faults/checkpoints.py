"""Named checkpoints: points in business code where a crash fault may kill the process.
The names are registered here, each with the fault flag that fires it, so a misspelt one
fails at once instead of silently never crashing."""

from __future__ import annotations

from collections.abc import Callable

from faults.services import crash_this_process, fault_fires

# Each checkpoint, the fault that kills the process there, and where it stands, for
# whoever reads a crash in the logs or events.
CHECKPOINTS: dict[str, tuple[str, str]] = {
    "finalize.after_steps": (
        "worker_crash",
        "orders' finalize, after the capture and commit are asked for, before it returns",
    ),
    # The confirmation's steps, in payments' and inventory's workers (issue 13): captured or
    # committed, not reported yet; the message comes back and the step runs again.
    "step.capture_before_report": (
        "step_worker_crash",
        "payments' capture, after the capture, before the report to orders",
    ),
    "step.commit_before_report": (
        "step_worker_crash",
        "inventory's commit, after the units are sold, before the report to orders",
    ),
    # The compensation's undo steps, in payments' and inventory's workers (issue 13): the
    # undo is done and committed, its report to orders not sent yet.
    "undo.payment_before_report": (
        "undo_worker_crash",
        "payments' cancel, after the void or refund, before the report to orders",
    ),
    "undo.stock_before_report": (
        "undo_worker_crash",
        "inventory's release, after the units are back, before the report to orders",
    ),
    # The checkout's steps, in the web process that runs it (issue 14): the customer gets
    # no answer, retries with the same Idempotency-Key, or gives up.
    "checkout.after_create": ("web_crash_after_create", "the checkout, after the order is created"),
    "checkout.after_reserve": ("web_crash_after_reserve", "the checkout, after the stock is reserved"),
    "checkout.after_authorise": (
        "web_crash_after_authorise",
        "the checkout, after the payment is authorised",
    ),
    "checkout.after_place": (
        "web_crash_after_place",
        "the checkout, after the order is placed, before the answer",
    ),
}


class UnknownCheckpoint(LookupError):
    """A checkpoint name that is not registered in ``CHECKPOINTS``."""


def checkpoint(
    name: str,
    *,
    on_crash: Callable[[], object] | None = None,
    crashed_before: Callable[[], bool] | None = None,
) -> None:
    """Pass, or when the checkpoint's fault fires, call ``on_crash`` (to record the crash
    where the caller keeps its history) and then SIGKILL this process.

    ``crashed_before``, asked only when the fault fires, says whether this work was killed
    here already: then it passes. A crash fault kills the first delivery; the one after it
    runs through, even when it comes before the flag is cleared (Celery requeues a task
    whose worker child died at once, not after the visibility timeout). A crash on every
    delivery would be a poison message, another failure."""
    if name not in CHECKPOINTS:
        raise UnknownCheckpoint(f"unknown checkpoint {name!r}; known: {', '.join(sorted(CHECKPOINTS))}")
    fault, _ = CHECKPOINTS[name]
    if fault_fires(fault):
        if crashed_before is not None and crashed_before():
            return
        if on_crash is not None:
            on_crash()
        crash_this_process()
