"""The public edge (instrumentation/edge.py): a public request starts its own trace whatever
trace context it carries, linked to the caller's; the internal APIs the apps call each
other on still join their caller's trace, so one order stays one trace."""

from __future__ import annotations

import pytest
import requests
from opentelemetry import baggage, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.wsgi import wsgi_getter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from instrumentation.context import untraced
from instrumentation.edge import EdgePropagator, joins_caller_trace, request_path

FOREIGN_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
FOREIGN_SPAN_ID = 0xB7AD6B7169203331
FOREIGN_ORDER = "00000000-0000-4000-8000-00000000beef"


def foreign_headers(flags: str) -> dict[str, str]:
    """Another trace's context, as a client that read its id from a status page sends it."""
    return {
        "traceparent": f"00-{FOREIGN_TRACE_ID:032x}-{FOREIGN_SPAN_ID:016x}-{flags}",
        "baggage": f"customer.tier=premium,order.id={FOREIGN_ORDER}",
    }


def environ(path: str, headers: dict[str, str]) -> dict[str, str]:
    """A WSGI environ, as Django's ``request.META`` hands it to the propagator (read with
    the WSGI getter the Django instrumentation uses)."""
    meta = {"REQUEST_METHOD": "POST", "PATH_INFO": path}
    meta.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return meta


def edge(trusts) -> EdgePropagator:
    return EdgePropagator(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]), trusts
    )


# --- the propagator ----------------------------------------------------------------------


def test_a_public_request_gets_neither_the_callers_span_nor_its_baggage():
    context = edge(lambda path, auth: False).extract(
        environ("/api/shop/checkout/", foreign_headers("01")), getter=wsgi_getter
    )
    assert not trace.get_current_span(context).get_span_context().is_valid
    assert baggage.get_all(context) == {}


def test_a_trusted_request_joins_the_callers_trace_with_its_baggage():
    context = edge(lambda path, auth: True).extract(
        environ("/api/orders/", foreign_headers("01")), getter=wsgi_getter
    )
    assert trace.get_current_span(context).get_span_context().trace_id == FOREIGN_TRACE_ID
    assert baggage.get_all(context)["order.id"] == FOREIGN_ORDER


def test_carriers_that_are_not_requests_are_read_as_before():
    """Celery's task headers and a stored outbox context carry the shop's own context."""
    context = edge(lambda path, auth: False).extract(foreign_headers("01"))
    assert trace.get_current_span(context).get_span_context().trace_id == FOREIGN_TRACE_ID


def test_request_path_reads_wsgi_and_asgi_carriers_only():
    assert request_path({"REQUEST_METHOD": "GET", "PATH_INFO": "/x/"}) == "/x/"
    assert request_path({"type": "http", "path": "/y/", "headers": []}) == "/y/"
    assert request_path({"traceparent": "00-…"}) is None
    assert request_path(None) is None


@pytest.mark.parametrize(
    ("path", "authorization", "joins"),
    [
        ("/api/orders/1/", "Bearer s3cret", True),
        ("/api/orders/1/", "Bearer wrong", False),  # an outsider at an internal API
        ("/api/orders/1/", "Bearer s3crét", False),  # non-ASCII: refused, no error
        ("/api/shop/checkout/", "Bearer s3cret", False),  # public, even with the token
        ("/", "", False),
    ],
)
def test_only_internal_paths_with_the_service_token_join(path, authorization, joins):
    joined = joins_caller_trace(
        path, authorization, trust_all=False, propagating_paths=["/api/orders/"], service_token="s3cret"
    )
    assert joined is joins


def test_trusting_every_caller_joins_everywhere():
    assert joins_caller_trace("/", "", trust_all=True, propagating_paths=[], service_token="")


# --- through the server ------------------------------------------------------------------

pytestmark_server = pytest.mark.django_db(transaction=True, databases="__all__")
CHECKOUT = {
    "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}],
    "email": "ada@example.com",
    "payment": {"method": "card", "token": "tok_ok"},
}


def checkout_spans(services_url: str, spans, headers: dict[str, str]):
    with untraced():  # the client sends these headers as they are, not its own span's
        response = requests.post(
            f"{services_url}/api/shop/checkout/", json=CHECKOUT, headers=headers, timeout=10
        )
    assert response.status_code == 202, response.text
    finished = spans.get_finished_spans()
    [checkout] = [s for s in finished if s.kind.name == "SERVER" and s.name == "POST api/shop/checkout/"]
    return response.json(), checkout, [s for s in finished if s.context.trace_id == checkout.context.trace_id]


@pytestmark_server
@pytest.mark.parametrize("flags", ["01", "00"], ids=["sampled", "not-sampled"])
def test_a_checkout_with_another_traces_context_gets_its_own_trace_linked_to_it(
    services_url, catalogue, spans, flags
):
    """The trace id a status page shows cannot be used to join that trace, nor an
    unsampled flag to hide the checkout; the caller's baggage reaches no span."""
    answer, checkout, trace_spans = checkout_spans(services_url, spans, foreign_headers(flags))

    assert checkout.parent is None and checkout.context.trace_id != FOREIGN_TRACE_ID
    assert answer["trace_id"] == f"{checkout.context.trace_id:032x}"
    [link] = checkout.links
    assert (link.context.trace_id, link.context.span_id) == (FOREIGN_TRACE_ID, FOREIGN_SPAN_ID)
    # The internal hops joined the checkout's trace, not the caller's.
    hops = {s.attributes.get("threadline.service") for s in trace_spans if s.kind.name == "SERVER"}
    assert {"shop", "orders", "inventory", "payments"} <= hops
    assert not any(s.context.trace_id == FOREIGN_TRACE_ID for s in spans.get_finished_spans())
    assert FOREIGN_ORDER not in {s.attributes.get("order.id") for s in trace_spans}
    assert "premium" not in {s.attributes.get("customer.tier") for s in trace_spans}


@pytestmark_server
def test_behind_a_trusted_gateway_the_checkout_joins_the_callers_trace(
    services_url, catalogue, spans, settings
):
    settings.TELEMETRY_TRUST_INCOMING_CONTEXT = True
    _, checkout, _ = checkout_spans(services_url, spans, foreign_headers("01"))
    assert checkout.context.trace_id == FOREIGN_TRACE_ID and not checkout.links


def test_the_process_extracts_through_the_edge():
    """The Django instrumentation extracts with the global propagator: it is the edge's."""
    assert isinstance(propagate.get_global_textmap(), EdgePropagator)
