"""The viewer and the orders admin in headless Chromium, as a staff member sees them: one
navigation on every viewer page and no shop header, the empty and refused searches, the
noise toggle, the admin's links to the viewer and an order list that fits 1280 px.

Runs in-process against pytest-django's live server (no worker, no Redis); screenshots of
each page go to test-output/viewer-*.png and test-output/admin-*.png."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from orders.models import Order
from synthetic import builders as span_rows
from synthetic.builders import Recorder, add_span, call, confirmed_order, failed_order
from tests.chromium import OUTPUT, launch

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

REASON = "finalize gave up after 4 attempts: OperationalError: interrupted"


def recorded(build, minutes_ago: float, **kwargs) -> Recorder:
    """A trace that started ``minutes_ago`` (so the dashboards' windows hold it)."""
    rec = Recorder(base_ns=time.time_ns() - int(minutes_ago * 60e9))
    build(rec, **kwargs)
    rec.store()
    return rec


@pytest.fixture
def stored(django_user_model, monkeypatch) -> dict:
    """A failed and a confirmed order with their traces, an admin page's trace (noise),
    calls between services for the dashboards, and a staff user with every permission."""
    monkeypatch.setattr(span_rows, "NOW", time.time_ns())  # the dashboards' windows end now
    for number in range(3):
        root = add_span(f"d{number}", "shop", "POST api/shop/checkout/", ago_s=60 * number + 30, ms=80)
        call(f"d{number}", root, "orders", "POST api/orders/<uuid:order_id>/place/", ms=12)
        call(f"d{number}", root, "payments", "POST api/payments/authorizations/", ms=30, status="ERROR")
        call(
            f"d{number}", root, "inventory", "POST api/inventory/reservations/<uuid:order_id>/release/", ms=9
        )
    failed_id, confirmed_id = str(uuid.uuid4()), str(uuid.uuid4())
    failed = recorded(failed_order, 3, order_id=failed_id, attempts=3)
    confirmed = recorded(confirmed_order, 2, order_id=confirmed_id)
    admin_page = Recorder(base_ns=time.time_ns() - 60 * 10**9)
    admin_page.span("GET admin/orders/order/", service="shop", start=0, ms=12, kind="SERVER")
    admin_page.store()
    Order.objects.create(
        id=uuid.UUID(failed_id), email="long.customer.name@example.com", status=Order.Status.FAILED,
        reason=REASON, total_cents=5900, trace_id=failed.trace_id,
        trace_context={"traceparent": f"00-{failed.trace_id}-00f067aa0ba902b7-01"},
    )  # fmt: skip
    Order.objects.create(
        id=uuid.UUID(confirmed_id), email="c@example.com", status=Order.Status.CONFIRMED,
        total_cents=2999, trace_id=confirmed.trace_id, confirmation_code="TL-7Q2K",
    )  # fmt: skip
    django_user_model.objects.create_superuser("browser", "browser@example.com", "browser-pw")
    return {"failed": failed.trace_id, "confirmed": confirmed.trace_id, "noise": admin_page.trace_id,
            "order": failed_id}  # fmt: skip


@pytest.fixture
def page(live_server, stored, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM is done by now.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        tab = chromium.new_page(viewport={"width": 1280, "height": 900})
        tab.set_default_timeout(30_000)  # a loaded machine: generous waits on conditions
        tab.goto(f"{live_server.url}/admin/login/")
        tab.fill("#id_username", "browser")
        tab.fill("#id_password", "browser-pw")
        tab.click("input[type=submit]")
        expect(tab.locator("#user-tools")).to_be_visible()
        yield tab
        chromium.close()


def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def nav_of(page: Page) -> list[str]:
    return page.locator("nav.viewer-nav a").all_inner_texts()


def test_every_viewer_page_has_one_navigation_and_no_shop_header(page, live_server, stored):
    pages = {
        "viewer-search": "/traces/",
        "viewer-trace": f"/traces/{stored['failed']}/",
        "viewer-compare": f"/traces/compare/?a={stored['failed']}&b={stored['confirmed']}",
        "viewer-services": "/traces/services/",
        "viewer-metrics": "/traces/metrics/?window=1h&kind=SERVER&kind=CONSUMER&kind=CLIENT&kind=INTERNAL",
        "viewer-failures": "/traces/failures/",
        "viewer-sampling": "/traces/sampling/",
    }
    navigations = set()
    for name, path in pages.items():
        page.goto(live_server.url + path)
        expect(page.locator("header.viewer-header")).to_be_visible()
        expect(page.locator("header.site")).to_have_count(0)
        expect(page.locator("body")).not_to_contain_text("Cart")
        expect(page.locator("nav.viewer-nav a.active")).to_have_count(1)
        navigations.add(tuple(nav_of(page)))
        shot(page, name)
    assert navigations == {
        ("Search", "Services", "Metrics", "Failures", "Sampling", "Compare", "Alert rules", "Admin", "Shop")
    }


def test_the_search_hides_noise_says_when_nothing_matches_and_refuses_a_reversed_range(
    page, live_server, stored
):
    page.goto(f"{live_server.url}/traces/")
    rows = page.locator("tr.trace-row")
    expect(rows).to_have_count(5)  # two orders' traces, three dashboard checkouts
    expect(page.locator("#noise-toggle")).to_contain_text("1 trace left out")
    page.click("#noise-toggle a")
    expect(rows).to_have_count(6)
    expect(page.locator("#noise-toggle")).to_contain_text("Showing everything")
    page.goto(f"{live_server.url}/traces/")  # the choice is remembered
    expect(rows).to_have_count(6)
    page.click("#noise-toggle a")
    expect(rows).to_have_count(5)

    page.fill("input[name=operation]", "no-such-operation")
    page.click("#search button[type=submit]")
    expect(page.locator("#no-results")).to_contain_text("No trace matches these filters.")
    shot(page, "viewer-search-empty")

    page.goto(f"{live_server.url}/traces/")
    page.fill("input[name=start]", "2026-01-02T10:00")
    page.fill("input[name=end]", "2026-01-02T09:00")
    page.click("#search button[type=submit]")
    expect(page.locator("#search .errorlist")).to_contain_text("is before 'from'")
    expect(page.locator("#invalid-filters")).to_be_visible()
    shot(page, "viewer-search-reversed-range")


def test_the_admin_links_to_the_viewer_and_the_order_list_fits_1280_px(page, live_server, stored):
    page.goto(f"{live_server.url}/admin/")
    viewer = page.locator("#trace-viewer-links")
    expect(viewer).to_be_visible()
    shot(page, "admin-index")
    viewer.get_by_role("link", name="Search traces").click()
    expect(page.locator("nav.viewer-nav")).to_be_visible()

    page.goto(f"{live_server.url}/admin/orders/order/")
    expect(page.locator("#result_list")).to_be_visible()
    shot(page, "admin-order-list-1280")
    # Nothing wider than the window or than the list's own scroll box: the trace column in view.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    results = page.locator("#changelist .results")
    assert results.evaluate("box => box.scrollWidth <= box.clientWidth"), "the order list scrolls sideways"
    link, box = page.locator("#result_list a.trace-link").first, results.bounding_box()
    link_box = link.bounding_box()
    assert box is not None and link_box is not None
    assert link_box["x"] + link_box["width"] <= box["x"] + box["width"]

    page.goto(f"{live_server.url}/admin/orders/order/{stored['order']}/change/")
    expect(page.locator("pre.trace-context")).to_contain_text(f"traceparent: 00-{stored['failed']}")
    expect(page.locator("textarea, input[name=trace_context]")).to_have_count(0)
    shot(page, "admin-order-page")
    page.locator(f".field-trace a[href='/traces/{stored['failed']}/']").click()
    expect(page.locator("nav.viewer-nav")).to_be_visible()


LONG_NAME = (
    "POST http://127.0.0.1:8000/api/inventory/reservations/<uuid:order_id>/release/"
    " (compensation of a failed order)"
)


def test_the_metrics_page_shows_whole_route_names_and_readable_rates(page, live_server, stored):
    rec = Recorder(base_ns=time.time_ns() - 30 * 10**9)
    rec.span(LONG_NAME, service="orders-worker", start=0, ms=13, kind="CLIENT")
    rec.store()
    page.goto(f"{live_server.url}/traces/metrics/?window=1h&kind=CLIENT&kind=INTERNAL")
    rows = page.locator("tr.operation")
    expect(rows.first).to_be_visible()
    rates = page.locator("tr.operation td.num:nth-child(3)").all_inner_texts()
    assert rates and all(re.fullmatch(r"(< )?\d+(\.\d)?/(s|min|h)", text) for text in rates), rates
    assert "0.000" not in page.locator("table.metrics").inner_text()
    # Each line of a wrapped name ends at a separator: no word is cut in two.
    long_cell = page.locator("tr.operation td.op", has_text="compensation of a failed order")
    assert len(long_cell.evaluate(LINES_OF)) > 1  # it does wrap, so the check below checks
    for cell in page.locator("tr.operation td.op").all()[:20]:
        lines = cell.evaluate(LINES_OF)
        for line in lines[:-1]:
            assert line[-1:] in "/._ ", (lines, "broken mid-word")
    shot(page, "viewer-metrics-all-kinds")


# The text of each rendered line of an element (by the vertical position of its characters).
LINES_OF = """cell => {
  const range = document.createRange(), lines = [];
  let top = null, text = "";
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) continue;
      if (top !== null && rect.top > top + 2) { lines.push(text); text = ""; }
      top = rect.top; text += node.data[i];
    }
  }
  lines.push(text);
  return lines;
}"""
