"""Named checkpoints: an unknown name fails loudly; with ``worker_crash`` off a
checkpoint passes; with it on, the crash is recorded through ``on_crash`` and then the
process dies by SIGKILL, as an OOM kill would (tried in a forked child)."""

from __future__ import annotations

import functools
import os
import signal

import pytest

from faults.checkpoints import CHECKPOINTS, UnknownCheckpoint, checkpoint

pytestmark = pytest.mark.django_db


def test_an_unknown_checkpoint_fails_loudly(faults):
    """A misspelt name raises, even with the fault off, listing the known names."""
    with pytest.raises(UnknownCheckpoint, match="finalize.after_steps"):
        checkpoint("finalize.before_captrue")


def test_with_the_fault_off_a_checkpoint_passes(faults):
    """worker_crash at 0: nothing is recorded and the caller goes on."""
    faults({"worker_crash": 0.0})
    recorded: list[str] = []
    for name in CHECKPOINTS:
        checkpoint(name, on_crash=functools.partial(recorded.append, name))
    assert recorded == []


def test_with_the_fault_on_the_crash_is_recorded_then_the_process_is_killed(faults, settings):
    """worker_crash at 1: ``on_crash`` runs first, then the process gets SIGKILL (no
    cleanup runs: the child never reaches its own exit)."""
    settings.FAULTS_CACHE_SECONDS = 60  # the child reads the flags from the cache, not the db
    faults({"worker_crash": 1.0})
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            checkpoint("finalize.after_steps", on_crash=lambda: os.write(write_end, b"recorded"))
        finally:
            os._exit(3)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b"recorded"
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_each_checkout_checkpoint_is_fired_by_its_own_fault_only(faults, settings):
    """web_crash_after_reserve at 1: the checkout's other checkpoints (and finalize's) pass,
    the one after the reservation kills the process."""
    settings.FAULTS_CACHE_SECONDS = 60
    faults({"web_crash_after_reserve": 1.0})
    recorded: list[str] = []
    for name in CHECKPOINTS:
        if name != "checkout.after_reserve":
            checkpoint(name, on_crash=functools.partial(recorded.append, name))
    assert recorded == []
    pid = os.fork()
    if pid == 0:
        try:
            checkpoint("checkout.after_reserve")
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_work_killed_here_before_passes_on_its_next_delivery(faults):
    """worker_crash at 1, but ``crashed_before`` says this work was killed here already: the
    checkpoint passes (Celery requeues a dead child's task at once, often before the flag
    is cleared; the delivery after the crash must run through). Asked only when the fault
    fires."""
    faults({"worker_crash": 1.0})
    recorded: list[str] = []
    checkpoint("finalize.after_steps", on_crash=lambda: recorded.append("crash"), crashed_before=lambda: True)
    assert recorded == []
    faults({"worker_crash": 0.0})
    asked: list[str] = []

    def crashed_before() -> bool:
        asked.append("asked")
        return True

    checkpoint("finalize.after_steps", crashed_before=crashed_before)
    assert asked == []
