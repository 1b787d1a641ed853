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
from telemetry.dashboard import metrics

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
    edges = {(edge.source, edge.target): edge.stats for edge in response.context["edges"]}
    assert edges[("shop", "payments")].error_rate == 1.0
    assert edges[("shop", "orders")].p95_ms == 12
    assert "100.0%" in html and "12.0 ms" in html
    assert reverse("telemetry:trace-detail", args=[trace_id("v1")]) in html


def test_each_service_node_leads_to_its_metrics_and_its_traces(admin_client, recent):
    """A node is a link to the metrics of that service (every kind, same window); below the
    graph, a link per service to the trace search."""
    html = admin_client.get(reverse("telemetry:services"), {"window": "15m"}).content.decode()
    linked = re.findall(
        r'<a href="/traces/metrics/\?window=15m&amp;service=(\w+)&amp;kind=SERVER[^"]*" class="node-link">',
        html,
    )
    assert sorted(linked) == ["orders", "payments", "shop"]
    assert sorted(re.findall(r'<a href="/traces/\?service=(\w+)">', html)) == ["orders", "payments", "shop"]


def test_the_services_page_says_when_nothing_called_anything(admin_client):
    """An empty window shows a sentence, not an empty drawing."""
    response = admin_client.get(reverse("telemetry:services"), {"window": "15m"})
    assert "No calls between services" in response.content.decode()


def test_the_metrics_page_lists_operations_with_sparklines_and_example_traces(admin_client, recent):
    """Server spans per service and name; each row has sparklines of calls and p95, one of
    errors where some call failed (payments') and "none" elsewhere, and the slowest and the
    failed trace as links; the old checkout is outside the 1 h window."""
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
    assert html.count("<polyline") == 2 * len(rows) + 1
    assert html.count('aria-label="errors per bucket"') == 1
    assert html.count('<td class="errors-spark"><span class="muted"') == len(rows) - 1
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


FIGURES = ("calls", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms", "partial")


def figures(stats: metrics.Stats) -> dict:
    """The numbers the HTML's context holds for an edge or an operation."""
    found = {name: getattr(stats, name) for name in FIGURES}
    return {**found, "slowest": list(stats.slowest_trace_ids), "failed": list(stats.failed_trace_ids)}


def figures_of(row: dict) -> dict:
    """The same numbers from a JSON edge or operation."""
    found = {name: row[name] for name in FIGURES}
    return {**found, "slowest": row["slowest_trace_ids"], "failed": row["failed_trace_ids"]}


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_as_json_are_for_staff_only(client, page):
    """``?format=json`` is behind the same login as the HTML."""
    response = client.get(reverse(page), {"format": "json"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_services_page_as_json_gives_the_graph_the_page_draws(admin_client, recent):
    """Nodes (failing when a call to them failed) and edges with the numbers of the HTML's
    context: calls, errors, error rate, percentiles, example traces."""
    html = admin_client.get(reverse("telemetry:services"), {"window": "15m"})
    response = admin_client.get(reverse("telemetry:services"), {"window": "15m", "format": "json"})
    assert response.status_code == 200
    found = response.json()
    assert found["window"]["key"] == "15m" and found["partial"] is False
    assert {node["name"]: node["failing"] for node in found["nodes"]} == {
        item["node"].name: item["failing"] for item in html.context["nodes"]
    }
    shown = {(edge.source, edge.target): edge.stats for edge in html.context["edges"]}
    assert {(edge["source"], edge["target"]) for edge in found["edges"]} == set(shown)
    for edge in found["edges"]:
        stats = shown[(edge["source"], edge["target"])]
        assert (edge["calls"], edge["errors"], edge["error_rate"]) == (
            stats.calls,
            stats.errors,
            stats.error_rate,
        )
        assert (edge["p50_ms"], edge["p95_ms"], edge["p99_ms"]) == (stats.p50_ms, stats.p95_ms, stats.p99_ms)
        assert edge["slowest_trace_ids"] == list(stats.slowest_trace_ids)
        assert edge["failed_trace_ids"] == list(stats.failed_trace_ids)
    [payments] = [edge for edge in found["edges"] if edge["target"] == "payments"]
    assert payments["error_rate"] == 1.0 and payments["failed_trace_ids"] == [trace_id("v1")]


def test_the_metrics_page_as_json_gives_each_operations_row(admin_client, recent):
    """Per service and operation: rate, errors, percentiles, example traces and the
    buckets behind the sparklines, as in the HTML's context; the filters apply."""
    query = {"window": "1h", "kind": ["SERVER", "CONSUMER"]}
    html = admin_client.get(reverse("telemetry:metrics"), query)
    found = admin_client.get(reverse("telemetry:metrics"), {**query, "format": "json"}).json()
    assert found["kinds"] == ["SERVER", "CONSUMER"] and found["service"] is None
    shown = [row["op"] for row in html.context["rows"]]
    assert [(row["service"], row["operation"]) for row in found["operations"]] == [
        (op.service, op.operation) for op in shown
    ]
    for row, op in zip(found["operations"], shown, strict=True):
        assert row["rate_per_s"] == op.rate_per_s
        assert (row["calls"], row["errors"], row["error_rate"]) == (
            op.stats.calls,
            op.stats.errors,
            op.stats.error_rate,
        )
        assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (
            op.stats.p50_ms,
            op.stats.p95_ms,
            op.stats.p99_ms,
        )
        assert row["partial"] is op.stats.partial is False
        assert (row["slowest_trace_ids"], row["failed_trace_ids"]) == (
            list(op.stats.slowest_trace_ids),
            list(op.stats.failed_trace_ids),
        )
        assert [bucket["calls"] for bucket in row["buckets"]] == [bucket.calls for bucket in op.buckets]
    filtered = admin_client.get(
        reverse("telemetry:metrics"), {"kind": "CLIENT", "service": "shop", "format": "json"}
    )
    [client_calls] = filtered.json()["operations"]
    assert (client_calls["service"], client_calls["operation"], client_calls["calls"]) == ("shop", "POST", 2)
