"""The Celery app's database connections (config/celery.py): kept across task runs by
Django's own rule, as across requests, not closed around every run by Celery's fixup."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun

import config.celery
from config.celery import app


class StandInTask:
    """What the receivers read of a task: its request's ``is_eager`` (hashable, as a
    signal's sender must be)."""

    def __init__(self, *, eager: bool) -> None:
        self.request = SimpleNamespace(is_eager=eager)


def run_of(*, eager: bool) -> StandInTask:
    return StandInTask(eager=eager)


def test_celerys_fixup_leaves_the_connections_open_around_a_run(monkeypatch):
    """With CELERY_DB_REUSE_MAX set past reach, the fixup's closing never comes."""
    fixup = DjangoWorkerFixup(app)
    closed: list[bool] = []
    monkeypatch.setattr(fixup, "_close_database", lambda: closed.append(True))
    for _ in range(1000):
        fixup.on_task_prerun(run_of(eager=False))
        fixup.on_task_postrun(run_of(eager=False))
    assert closed == []


@pytest.mark.parametrize(("eager", "calls"), [(False, 2), (True, 0)])
def test_a_run_closes_old_connections_as_a_request_does_unless_eager(monkeypatch, eager, calls):
    """Django's rule around each worker run (CONN_MAX_AGE, the health check that finds a
    connection a database restart killed); an eager run is its caller's business."""
    called: list[bool] = []
    monkeypatch.setattr(config.celery, "close_old_connections", lambda: called.append(True))
    task = run_of(eager=eager)
    task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
    task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={}, retval=None)
    assert len(called) == calls


def test_the_chosen_settings_notice_is_quiet_from_setup_on_and_other_notices_are_not():
    """Celery's logging setup sets its deprecation notices to "always"; the receiver of the
    signal that follows it (before the worker first connects) quiets the one notice whose
    setting is chosen, and only that one."""
    from celery.exceptions import CPendingDeprecationWarning
    from celery.signals import celeryd_after_setup
    from celery.worker.consumer.consumer import CANCEL_TASKS_BY_DEFAULT

    with warnings.catch_warnings(record=True) as shown:
        warnings.filterwarnings("always", category=CPendingDeprecationWarning)  # as Celery's setup
        celeryd_after_setup.send(sender="celery@test", instance=None, conf=app.conf)
        warnings.warn(CANCEL_TASKS_BY_DEFAULT, CPendingDeprecationWarning, stacklevel=1)
        warnings.warn("another notice", CPendingDeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["another notice"]
