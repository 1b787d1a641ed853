"""The view seam: ``InjectedLatencyMixin`` delays a view's handler by its latency fault,
after the permission check and before the handler, and marks the span; a refused
request, a 405 and a fault at zero are not delayed. ``InjectedUnavailableMixin`` answers
503 in the APIs' error shape instead of running the handler while its fault fires."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from faults.views import InjectedLatencyMixin, InjectedUnavailableMixin
from instrumentation import attributes

pytestmark = pytest.mark.django_db

DELAY_MS = 200
PASS = {"X-Pass": "yes"}


class OnlyWithPass(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.headers.get("X-Pass") == "yes"


class SlowApi(InjectedLatencyMixin, APIView):
    permission_classes = [OnlyWithPass]
    latency_fault = "inventory_latency"
    handled_at: float = 0.0

    def post(self, request):
        SlowApi.handled_at = time.monotonic()
        return Response({"ok": True})


def post(method: str = "post", headers: dict[str, str] | None = None) -> tuple[int, float]:
    """Call SlowApi; its status and how long the handler waited after the call began."""
    request = getattr(APIRequestFactory(), method)("/slow/", headers=headers or {})
    SlowApi.handled_at = 0.0
    started = time.monotonic()
    response = SlowApi.as_view()(request)
    return response.status_code, (SlowApi.handled_at or time.monotonic()) - started


def test_the_handler_runs_after_the_injected_delay(faults, spans):
    """inventory_latency=200 ms: the handler starts 200 ms late; the span names the fault."""
    faults({"inventory_latency": DELAY_MS})
    with trace.get_tracer(__name__).start_as_current_span("request"):
        status, waited = post(headers=PASS)
    assert status == 200 and waited >= DELAY_MS / 1000
    [span] = spans.get_finished_spans()
    assert span.attributes[attributes.FAULT_NAME] == "inventory_latency"


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [("post", {}, 403), ("get", PASS, 405), ("options", PASS, 200)],
)
def test_a_request_that_does_no_work_is_not_delayed(faults, method, headers, status):
    """Refused, not allowed or OPTIONS: answered at once, as before the seam."""
    faults({"inventory_latency": DELAY_MS})
    answered, waited = post(method, headers)
    assert answered == status and waited < DELAY_MS / 1000


def test_at_zero_there_is_no_delay(faults, spans):
    """inventory_latency=0: no sleep, no fault on the span."""
    faults({"inventory_latency": 0})
    with trace.get_tracer(__name__).start_as_current_span("request"):
        status, waited = post(headers=PASS)
    assert status == 200 and waited < DELAY_MS / 1000
    [span] = spans.get_finished_spans()
    assert attributes.FAULT_NAME not in span.attributes


class SheddingApi(InjectedUnavailableMixin, APIView):
    permission_classes = [OnlyWithPass]
    unavailable_fault = "inventory_unavailable"
    handled = False

    def post(self, request):
        SheddingApi.handled = True
        return Response({"ok": True})


def shed(headers: dict[str, str]) -> tuple[int, dict]:
    SheddingApi.handled = False
    response = SheddingApi.as_view()(APIRequestFactory().post("/shedding/", headers=headers))
    return response.status_code, response.data


def test_a_firing_unavailable_fault_answers_503_without_running_the_handler(faults, spans):
    """inventory_unavailable=1: 503 service_unavailable, the handler never ran, the span
    names the fault."""
    faults({"inventory_unavailable": 1.0})
    with trace.get_tracer(__name__).start_as_current_span("request"):
        status, body = shed(PASS)
    assert (status, body["code"], SheddingApi.handled) == (503, "service_unavailable", False)
    [span] = spans.get_finished_spans()
    assert span.attributes[attributes.FAULT_NAME] == "inventory_unavailable"


def test_a_refused_request_is_refused_before_the_unavailable_fault(faults):
    faults({"inventory_unavailable": 1.0})
    assert shed({})[0] == 403


def test_at_zero_the_handler_answers(faults):
    faults({"inventory_unavailable": 0.0})
    assert shed(PASS)[0] == 200 and SheddingApi.handled
