"""The CPU a request or a task run spent, on its span (instrumentation/cpu.py): the
thread's CPU clock, so work counts and waiting does not."""

from __future__ import annotations

import time

import pytest
from celery import shared_task

from instrumentation import attributes, names

BURN_NS = 30_000_000  # 30 ms of this thread's CPU
SLEEP_S = 0.2


@shared_task(name="tests.burn_cpu")
def burn_cpu() -> None:
    started = time.thread_time_ns()
    while time.thread_time_ns() - started < BURN_NS:
        pass


@shared_task(name="tests.sleep")
def sleep() -> None:
    time.sleep(SLEEP_S)


def run_span(spans, task: str):
    [span] = [s for s in spans.get_finished_spans() if s.name == names.run_span(task)]
    return span


def duration_ms(span) -> float:
    return (span.end_time - span.start_time) / 1e6


def test_a_task_run_that_computes_carries_its_cpu(spans):
    burn_cpu.apply()
    span = run_span(spans, "tests.burn_cpu")
    assert BURN_NS / 1e6 <= span.attributes[attributes.CPU_MS] <= duration_ms(span)


def test_a_task_run_that_waits_carries_little_cpu(spans):
    """Sleeping takes no CPU: the run lasts the sleep, its CPU is a small part of it."""
    sleep.apply()
    span = run_span(spans, "tests.sleep")
    assert duration_ms(span) >= SLEEP_S * 1000
    assert span.attributes[attributes.CPU_MS] < duration_ms(span) / 2


@pytest.mark.django_db
def test_a_request_carries_its_cpu_on_its_server_span(client, spans):
    assert client.get("/no-such-page/").status_code == 404
    [server] = [span for span in spans.get_finished_spans() if span.kind.name == "SERVER"]
    assert 0 < server.attributes[attributes.CPU_MS] <= duration_ms(server)
