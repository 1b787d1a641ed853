"""The services and metrics pages: staff only, drawn server-side from the same numbers
as ``telemetry.dashboard.metrics``, with links to example traces."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import User
from django.urls import resolve, reverse

from synthetic import builders as span_rows
from synthetic.builders import add_span, call, trace_id

pytestmark = pytest.mark.django_db(databases="__all__")
PAGES = ["telemetry:services", "telemetry:metrics"]


@pytest.fixture
def recent(monkeypatch) -> None:
    """A checkout a minute ago: shop → orders (12 ms) and shop → payments (30 ms, failed)."""
    monkeypatch.setattr(span_rows, "NOW", time.time_ns())  # the pages' windows end now
    root = add_span("v1", "shop", "POST api/shop/checkout/", ms=80)
    call("v1", root, "orders", "POST api/orders/", ms=12)
    call("v1", root, "payments", "POST api/payments/authorize/", ms=30, status="ERROR")
    add_span("v0", "shop", "POST api/shop/checkout/", ago_s=7200, ms=5)


def test_the_pages_are_not_taken_for_trace_ids():
    """/traces/services/ and /traces/metrics/ reach the dashboard, not the trace view."""
    assert resolve("/traces/services/").view_name == "telemetry:services"
    assert resolve("/traces/metrics/").view_name == "telemetry:metrics"


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitors_are_sent_to_the_login(client, page):
    """The dashboard is for staff: an anonymous request is redirected to the admin login."""
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("page", PAGES)
def test_customers_who_are_not_staff_are_sent_to_the_login(client, page):
    """A logged-in user without is_staff gets the login page too."""
    client.force_login(User.objects.create_user("customer", password="pw"))
    assert client.get(reverse(page)).status_code == 302


def test_the_services_page_draws_the_graph_and_tabulates_the_edges(admin_client, recent):
    """An SVG with a node per service and a line per edge, and a table with the same
    calls, error rate and latency; the failed call links to its trace."""
    response = admin_client.get(reverse("telemetry:services"), {"window": "15m"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html
    assert set(re.findall(r'data-service="([^"]+)"', html)) == {"shop", "orders", "payments"}
    assert set(re.findall(r'data-source="([^"]+)" data-target="([^"]+)"', html)) == {
        ("shop", "orders"),
        ("shop", "payments"),
    }
    edges = {(row["edge"].source, row["edge"].target): row["edge"].stats for row in response.context["edges"]}
    assert edges[("shop", "payments")].error_rate == 1.0
    assert edges[("shop", "orders")].p95_ms == 12
    assert "100.0%" in html and "12.0 ms" in html
    assert reverse("telemetry:trace-detail", args=[trace_id("v1")]) in html


def test_the_services_page_says_when_nothing_called_anything(admin_client):
    """An empty window shows a sentence, not an empty drawing."""
    response = admin_client.get(reverse("telemetry:services"), {"window": "15m"})
    assert "No calls between services" in response.content.decode()


def test_the_metrics_page_lists_operations_with_sparklines_and_example_traces(admin_client, recent):
    """Server spans per service and name; each row has two sparklines, and the slowest
    and the failed trace as links; the old checkout is outside the 1 h window."""
    response = admin_client.get(reverse("telemetry:metrics"), {"window": "1h"})
    assert response.status_code == 200
    html = response.content.decode()
    rows = {(row["op"].service, row["op"].operation): row["op"] for row in response.context["rows"]}
    assert set(rows) == {
        ("shop", "POST api/shop/checkout/"),
        ("orders", "POST api/orders/"),
        ("payments", "POST api/payments/authorize/"),
    }
    assert rows[("shop", "POST api/shop/checkout/")].stats.calls == 1
    assert html.count("<polyline") == 2 * len(rows)
    failed = reverse("telemetry:trace-detail", args=[trace_id("v1")])
    assert f'<a href="{failed}" style="color:#b91c1c">failed</a>' in html
    assert "count every request and task, sampled or not" in html


def test_the_metrics_page_filters_by_kind_and_service(admin_client, recent):
    """Client spans on request; one service at a time."""
    response = admin_client.get(reverse("telemetry:metrics"), {"kind": "CLIENT", "service": "shop"})
    names = [(row["op"].service, row["op"].operation) for row in response.context["rows"]]
    assert names == [("shop", "POST")]
    assert response.context["rows"][0]["op"].stats.calls == 2


@pytest.mark.parametrize("page", PAGES)
def test_a_page_computed_over_part_of_its_window_says_so(admin_client, recent, monkeypatch, page):
    """More request spans in the window than MAX_ROWS: the page says its figures are over
    the newest ones only, and how to get them all; otherwise it says nothing."""
    from telemetry.dashboard import metrics

    notice = "the figures below are over its newest"
    assert notice not in admin_client.get(reverse(page), {"window": "15m"}).content.decode()
    monkeypatch.setattr(metrics, "MAX_ROWS", 1)
    assert notice in admin_client.get(reverse(page), {"window": "15m"}).content.decode()
