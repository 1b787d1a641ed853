"""Service attribution: a task's run belongs to its app's worker, whichever process runs it,
and what happens inside the run inherits that worker."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from config import queues
from instrumentation import attributes, names
from instrumentation.processors import ServiceAttribution

BY_PATH = {"/api/payments/": "payments"}


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exported: InMemorySpanExporter) -> Tracer:
    """A worker process's provider: its own service is orders-worker."""
    provider = TracerProvider()
    provider.add_span_processor(ServiceAttribution("orders-worker", BY_PATH, queues.worker_services()))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider.get_tracer(__name__)


def services(exported: InMemorySpanExporter) -> dict[str, str]:
    spans = exported.get_finished_spans()
    return {span.name: str((span.attributes or {})[attributes.SERVICE]) for span in spans}


def remote_parent() -> Context:
    """The context a task message carries from the process that published it."""
    parent = trace.SpanContext(trace_id=1, span_id=2, is_remote=True, trace_flags=trace.TraceFlags(1))
    return trace.set_span_in_context(trace.NonRecordingSpan(parent))


@pytest.mark.parametrize(
    ("task", "service"),
    [
        ("orders.finalize_order", "orders-worker"),
        ("payments.cancel_payment", "payments-worker"),
        ("inventory.release_reservation", "inventory-worker"),
        ("shop.purge_idempotency_keys", "orders-worker"),  # no worker of its own: the process's
    ],
)
def test_a_task_run_belongs_to_its_apps_worker(tracer, exported, task, service):
    with tracer.start_as_current_span(names.run_span(task), context=remote_parent(), kind=SpanKind.CONSUMER):
        with tracer.start_as_current_span("UPDATE"):
            pass

    assert services(exported) == {names.run_span(task): service, "UPDATE": service}


def test_a_run_published_from_another_apps_run_is_still_its_own_apps(tracer, exported):
    """One worker process consuming every queue: a payments task run under an orders run's
    publish (a local parent, as when a task runs eagerly) is payments-worker's."""
    run = names.run_span("payments.cancel_payment")
    with tracer.start_as_current_span(names.run_span("orders.compensate_order"), kind=SpanKind.CONSUMER):
        with tracer.start_as_current_span("apply_async/payments.cancel_payment", kind=SpanKind.PRODUCER):
            with tracer.start_as_current_span(run, kind=SpanKind.CONSUMER):
                pass

    assert services(exported) == {
        "run/orders.compensate_order": "orders-worker",
        "apply_async/payments.cancel_payment": "orders-worker",
        "run/payments.cancel_payment": "payments-worker",
    }


def test_a_consumer_span_that_is_no_task_run_inherits(tracer, exported):
    with tracer.start_as_current_span(names.run_span("payments.cancel_payment"), kind=SpanKind.CONSUMER):
        with tracer.start_as_current_span("receive payments.x", kind=SpanKind.CONSUMER):
            pass

    assert services(exported)["receive payments.x"] == "payments-worker"


def test_a_server_span_still_takes_its_path(tracer, exported):
    with tracer.start_as_current_span(
        "POST api/payments/x", kind=SpanKind.SERVER, attributes={"url.path": "/api/payments/x"}
    ):
        pass

    assert services(exported) == {"POST api/payments/x": "payments"}
