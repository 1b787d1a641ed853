"""The test process traces the way the server does: spans carry the app they belong to."""

import pytest
import requests
from opentelemetry import trace


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_server_spans_are_attributed_to_the_app_whose_api_was_hit(services_url, catalogue, spans):
    with trace.get_tracer(__name__).start_as_current_span("test"):
        requests.get(f"{services_url}/api/shop/products/", timeout=5)
    server = {
        s.name: s.attributes["threadline.service"]
        for s in spans.get_finished_spans()
        if s.kind.name == "SERVER"
    }
    assert server["GET api/shop/products/"] == "shop"
    assert server["GET api/inventory/stock/"] == "inventory"


def test_database_spans_without_a_parent_are_not_recorded(spans):
    """Broker polling and housekeeping queries outside any request make no traces."""
    poll = trace.get_tracer(__name__).start_as_current_span(
        "BRPOP", kind=trace.SpanKind.CLIENT, attributes={"db.system": "redis"}
    )
    with poll as span:
        assert not span.is_recording()
    assert spans.get_finished_spans() == ()


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_an_http_call_from_outside_starts_a_trace_linked_to_the_callers(services_url, catalogue, spans):
    """A script driving the shop over HTTP is a public caller: the server starts its own
    trace (instrumentation/edge.py) and links it to the script's call."""
    requests.get(f"{services_url}/api/shop/products/", timeout=5)
    finished = spans.get_finished_spans()
    [call] = [s for s in finished if s.kind.name == "CLIENT" and s.parent is None]
    [server] = [s for s in finished if s.kind.name == "SERVER" and s.name == "GET api/shop/products/"]
    assert server.parent is None and server.context.trace_id != call.context.trace_id
    assert [link.context.span_id for link in server.links] == [call.context.span_id]


def test_spans_leave_for_otlp_with_the_service_of_their_app(spans):
    """Jaeger/Tempo see each app as its own service, not one service per process."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from instrumentation.processors import PerServiceResource

    with trace.get_tracer(__name__).start_as_current_span("work") as span:
        span.set_attribute("threadline.service", "payments")
    received = InMemorySpanExporter()
    PerServiceResource(received).export(spans.get_finished_spans())
    [exported] = received.get_finished_spans()
    assert exported.resource.attributes["service.name"] == "payments"
    assert exported.context == spans.get_finished_spans()[0].context


def test_every_span_carries_the_code_version_on_its_resource(spans, settings):
    """``service.version`` comes from the THREADLINE_VERSION setting (no package version)."""
    with trace.get_tracer(__name__).start_as_current_span("versioned"):
        pass
    [span] = spans.get_finished_spans()
    assert span.resource.attributes["service.version"] == settings.THREADLINE_VERSION
    assert span.resource.attributes["service.name"]
