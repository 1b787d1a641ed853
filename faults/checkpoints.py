"""Named checkpoints: points in business code where the ``worker_crash`` fault may kill
the process. The names are registered here, so a misspelt one fails at once instead of
silently never crashing."""

from __future__ import annotations

from collections.abc import Callable

from faults.services import crash_this_process, fault_fires

# Each checkpoint and where it stands, for whoever reads a crash in the logs or events.
CHECKPOINTS = {
    "finalize.before_capture": "orders' finalize, after the stock is committed, before the capture",
}


class UnknownCheckpoint(LookupError):
    """A checkpoint name that is not registered in ``CHECKPOINTS``."""


def checkpoint(name: str, *, on_crash: Callable[[], object] | None = None) -> None:
    """Pass, or when ``worker_crash`` fires, call ``on_crash`` (to record the crash where
    the caller keeps its history) and then SIGKILL this process."""
    if name not in CHECKPOINTS:
        raise UnknownCheckpoint(f"unknown checkpoint {name!r}; known: {', '.join(sorted(CHECKPOINTS))}")
    if fault_fires("worker_crash"):
        if on_crash is not None:
            on_crash()
        crash_this_process()
