"""The CPU a request or a task run spent, on its span (``threadline.cpu_ms``).

A span's duration does not say whether the time went to work or to waiting (a lock, the
database, a slow callee). The thread that serves a request or runs a task does the work of
that one span tree, so the thread's CPU clock (``time.thread_time_ns``, a cheap
``clock_gettime``) read at both ends measures the work: a 300 ms request with 8 ms of CPU
waited, one with 280 ms computed. What the process does on other threads is not counted,
the span exporter's batches included (their cost is the export's, not the request's).

- Requests: ``ThreadCpuMiddleware``, first in ``MIDDLEWARE`` and so inside the Django
  instrumentation's own middleware, whose span is current here.
- Task runs: Celery's ``task_prerun`` and ``task_postrun`` signals, connected around the
  Celery instrumentation's (``instrument_celery``), so that the clock starts after the
  run's span has started and is read while it is still open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery import signals
from django.http import HttpRequest, HttpResponse
from opentelemetry import trace

from instrumentation import attributes, names

_started_ns: dict[str, int] = {}  # a task run's thread CPU clock at its start, by task id


def _set_cpu(started_ns: int, name: str | None = None) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    # A task run's span is the one named after it; anything else current is not its own.
    if name is not None and getattr(span, "name", None) != name:
        return
    span.set_attribute(attributes.CPU_MS, round((time.thread_time_ns() - started_ns) / 1e6, 3))


class ThreadCpuMiddleware:
    """Sets the request's CPU time on its server span (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started_ns = time.thread_time_ns()
        try:
            return self.get_response(request)
        finally:
            _set_cpu(started_ns)


def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started_ns[task_id] = time.thread_time_ns()


def _task_ended(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    started_ns = _started_ns.pop(task_id or "", None)
    if started_ns is not None and task is not None:
        _set_cpu(started_ns, names.run_span(task.name))


def instrument_celery(instrument: Callable[[], None]) -> None:
    """Runs ``instrument`` (the Celery instrumentation's setup) with the task runs' CPU
    around it. Receivers run in the order they were connected: this module's
    ``task_postrun`` receiver comes before the instrumentation's, so the run's span is still
    open when the time is set on it; its ``task_prerun`` receiver after, so the clock starts
    once the span has (the CPU is never more than the span's duration)."""
    signals.task_postrun.connect(_task_ended, weak=False, dispatch_uid="threadline.cpu.ended")
    instrument()
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="threadline.cpu.started")
