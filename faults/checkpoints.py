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


def checkpoint(name: str, *, on_crash: Callable[[], object] | None = None) -> None:
    """Pass, or when the checkpoint's fault fires, call ``on_crash`` (to record the crash
    where the caller keeps its history) and then SIGKILL this process."""
    if name not in CHECKPOINTS:
        raise UnknownCheckpoint(f"unknown checkpoint {name!r}; known: {', '.join(sorted(CHECKPOINTS))}")
    fault, _ = CHECKPOINTS[name]
    if fault_fires(fault):
        if on_crash is not None:
            on_crash()
        crash_this_process()
