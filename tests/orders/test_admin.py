"""Orders in the admin: a failed order shows why and its failure group in its list row, and
its change page shows the root cause the trace's diagnosis names, with the trace link and the
event history."""

from __future__ import annotations

import html
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.db import DatabaseError

from orders.admin import OrderAdmin
from orders.apis import OrderOutput
from orders.models import Order
from synthetic import builders as traces
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.text import summary_line
from telemetry.failures import describe, group_failures
from telemetry.models import FailureGroup, Span
from telemetry.store.index import save_spans

pytestmark = pytest.mark.django_db(databases="__all__")

REASON = "finalize gave up after 3 attempts: OperationalError: interrupted"


@pytest.fixture
def failed_order() -> Order:
    """An order failed by database timeouts on every attempt, with its trace stored."""
    trace = traces.retried_db_timeouts(attempts=3)
    save_spans(trace.spans)
    order = Order.objects.create(
        id=uuid.UUID(traces.ORDER_ID),
        email="flow@example.com",
        status=Order.Status.FAILED,
        reason=REASON,
        total_cents=44900,
        trace_id=trace.trace_id,
    )
    order.events.create(kind="finalize_gave_up", message=REASON, trace_id=trace.trace_id)
    return order


def change_page(admin_client, order: Order) -> str:
    response = admin_client.get(f"/admin/orders/order/{order.id}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_failed_orders_page_shows_the_root_cause_with_the_trace_link(admin_client, failed_order):
    """The one-line summary of the diagnosis, computed from the stored spans, and a link to
    the trace; the event history links to the trace too."""
    page = change_page(admin_client, failed_order)
    expected = summary_line(analyze(Span.objects.filter(trace_id=failed_order.trace_id)))
    assert expected.startswith("orders-worker: UPDATE orders_order failed with sqlite3.OperationalError")
    assert "<label>Root cause:</label>" in page and html.escape(expected) in page
    assert page.count(f'href="/traces/{failed_order.trace_id}/"') >= 3  # field, root cause, event


def test_a_failed_orders_list_row_shows_the_reason(admin_client, failed_order):
    """Filtering the list by status failed shows each order's reason in its row."""
    response = admin_client.get("/admin/orders/order/", {"status__exact": "failed"})
    assert response.status_code == 200
    assert html.escape(REASON) in response.content.decode()


def test_the_failed_orders_list_shows_each_orders_failure_group(admin_client, failed_order):
    """Once the trace store has grouped the order's trace, its row links to its group on the
    failures page, under its status; an order of no group shows its status alone."""
    other = Order.objects.create(email="ok@example.com", status=Order.Status.FAILED, total_cents=100)
    group_failures(now_ns=time.time_ns() + 60 * 1_000_000_000, lookback_s=None)
    group = FailureGroup.objects.get()
    page = admin_client.get("/admin/orders/order/", {"status__exact": "failed"}).content.decode()
    assert "column-status_and_group" in page  # the column
    link = (
        f'Failed<br><a class="failure-group" href="/traces/failures/#group-{group.pk}" '
        f'title="{html.escape(describe(group))}">UPDATE orders_order: database timeout (order_db_timeout)</a>'
    )
    assert link in page
    row = page[page.index(str(other.id)) :]
    assert '<td class="field-status_and_group">Failed</td>' in row[: row.index("</tr>")]


def failing_groups(order_ids):
    raise DatabaseError("no such table: telemetry_tracefailure")


def test_the_order_list_shows_without_groups_when_the_store_cannot_be_read(
    admin_client, settings, failed_order
):
    settings.TELEMETRY_ORDER_GROUPS = f"{__name__}.failing_groups"
    response = admin_client.get("/admin/orders/order/")
    assert (
        response.status_code == 200
        and '<td class="field-status_and_group">Failed</td>' in response.content.decode()
    )


def test_an_order_that_did_not_fail_has_no_root_cause():
    """Confirmed (or still running) orders show "-", without reading the trace store."""
    order = Order(status=Order.Status.CONFIRMED, total_cents=100, trace_id="f" * 32)
    assert OrderAdmin(Order, admin.site).root_cause(order) == "-"


def test_a_failed_order_without_a_stored_trace_says_so():
    """Spans are written in batches: an order failed a moment ago may have none yet."""
    order = Order.objects.create(
        email="x@example.com", status=Order.Status.FAILED, reason="payment_declined", total_cents=100
    )
    assert OrderAdmin(Order, admin.site).root_cause(order) == "no stored trace for this order (yet)"


def test_a_failing_order_has_its_own_list_filter_and_shows_its_root_cause(admin_client):
    """An order being undone is listed under the status filter "Failing", and its change
    page reads the root cause as a failed order's does (here: no trace stored yet)."""
    order = Order.objects.create(
        email="x@example.com", status=Order.Status.FAILING, reason="finalize gave up", total_cents=100
    )
    listing = admin_client.get("/admin/orders/order/", {"status__exact": "failing"}).content.decode()
    assert "?status__exact=failing" in listing and str(order.id) in listing
    assert OrderAdmin(Order, admin.site).root_cause(order) == "no stored trace for this order (yet)"


def failing_store(order_id: str, trace_id: str):
    raise DatabaseError("no such table: telemetry_span")


def test_a_failed_order_whose_trace_store_cannot_be_read_still_shows_its_page(settings):
    """The span store is an aid: when it cannot be read the root cause says so, nothing breaks."""
    settings.TELEMETRY_ORDER_DIAGNOSIS = f"{__name__}.failing_store"
    order = Order(status=Order.Status.FAILED, total_cents=100, trace_id="f" * 32)
    assert OrderAdmin(Order, admin.site).root_cause(order) == "the trace store could not be read"


def test_the_order_list_shows_and_filters_by_customer_tier(admin_client):
    """The list has a tier column and a tier filter: premium orders only, when asked."""
    Order.objects.create(email="vip@example.com", customer_tier="premium", total_cents=100)
    Order.objects.create(email="trial@example.com", customer_tier="free", total_cents=100)
    assert "tier" in OrderAdmin.list_display and "customer_tier" in OrderAdmin.list_filter
    page = admin_client.get("/admin/orders/order/", {"customer_tier__exact": "premium"}).content.decode()
    assert "vip@example.com" in page and "trial@example.com" not in page


def test_orders_are_read_only_in_the_admin_even_for_a_superuser(admin_client, failed_order):
    """No add, no save, no delete, and no bulk delete action on the list: an order changes
    only through the orders services."""
    page = change_page(admin_client, failed_order)
    assert 'name="_save"' not in page and "/delete/" not in page
    url = f"/admin/orders/order/{failed_order.id}/"
    assert admin_client.post(url + "change/", {"email": "x@example.com"}).status_code == 403
    assert admin_client.get(url + "delete/").status_code == 403
    changelist = admin_client.get("/admin/orders/order/").content.decode()
    assert "delete_selected" not in changelist
    bulk = {"action": "delete_selected", "_selected_action": [str(failed_order.id)], "post": "yes"}
    admin_client.post("/admin/orders/order/", bulk)
    failed_order.refresh_from_db()
    assert failed_order.email == "flow@example.com"


def test_order_events_show_their_time_to_the_millisecond(admin_client, failed_order):
    """A retry schedule 100 ms apart reads as one: the event's time has its milliseconds."""
    event = failed_order.events.get()
    page = change_page(admin_client, failed_order)
    assert event.created_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] in page


def test_the_order_api_gives_event_times_with_their_fraction_even_when_it_is_zero(failed_order):
    """The order page slices the time to the millisecond: the fraction is always there."""
    event = failed_order.events.get()
    event.created_at = datetime(2026, 12, 3, 7, 43, 31, tzinfo=UTC)
    event.save()
    [out] = OrderOutput(failed_order).data["events"]
    assert out["at"] == "2026-12-03T07:43:31.000000Z" and out["at"][11:23] == "07:43:31.000"


def test_the_order_list_shows_a_short_trace_link_to_fit_the_screen(admin_client, failed_order):
    """The list's trace column: 8 digits and an ellipsis linking to the trace, the full id
    as the tooltip (a 32-digit id pushed the column off a 1280 px screen)."""
    page = admin_client.get("/admin/orders/order/").content.decode()
    trace_id = failed_order.trace_id
    assert (
        f'<a href="/traces/{trace_id}/" title="trace {trace_id}" class="trace-link">{trace_id[:8]}…</a>'
        in page
    )
    assert f">{trace_id}<" not in page


def test_the_order_page_shows_its_trace_context_as_read_only_text_after_the_order(admin_client, failed_order):
    """The recorded context is text in the Trace section, after what happened to the order;
    no form field (input or textarea) on the page."""
    failed_order.trace_context = {"traceparent": f"00-{failed_order.trace_id}-00f067aa0ba902b7-01"}
    failed_order.save()
    page = change_page(admin_client, failed_order)
    assert "<textarea" not in page and 'name="trace_context"' not in page
    assert '<pre class="trace-context"' in page and f"traceparent: 00-{failed_order.trace_id}-" in page
    assert page.index("field-status") < page.index("field-trace_context_text")


def test_the_admin_index_links_to_the_trace_viewer(admin_client, client, django_user_model):
    page = admin_client.get("/admin/").content.decode()
    assert 'id="trace-viewer-links"' in page
    viewer = ("services", "metrics", "failures", "sampling", "compare")
    for url in ("/traces/", *(f"/traces/{page}/" for page in viewer)):
        assert f'href="{url}"' in page
    # Staff without the viewer's permission are not sent to a page they may not open.
    clerk = django_user_model.objects.create_user("clerk", "clerk@example.com", "pw", is_staff=True)
    client.force_login(clerk)
    assert 'id="trace-viewer-links"' not in client.get("/admin/").content.decode()
