"""The viewer and the orders admin in headless Chromium, as a staff member sees them: one
navigation on every viewer page and no shop header, the empty and refused searches, the
noise toggle, the admin's links to the viewer and an order list that fits 1280 px; the
trace page's folding, find, keys, deep links, statistics and raw JSON.

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
from synthetic.builders import Recorder, add_span, bulk_import, call, confirmed_order, failed_order
from telemetry.models import Span
from telemetry.store.index import save_spans
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


def view_shot(page: Page, name: str) -> None:
    """The window only (1280 x 900): what a person sees there, legible in the file."""
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"))


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


def test_the_search_shows_durations_in_human_units_on_one_line(page, live_server, stored):
    slow = Recorder(base_ns=time.time_ns() - 20 * 10**9)
    slow.span("POST api/shop/checkout/", service="shop", start=0, ms=30_080, kind="SERVER")
    slow.store()
    page.goto(f"{live_server.url}/traces/")
    cell = page.locator(f"tr.trace-row[data-trace-id='{slow.trace_id}'] td.duration")
    expect(cell).to_have_text("30.1 s")
    durations = page.locator("tr.trace-row td.duration")
    assert all(
        re.fullmatch(r"\d+(\.\d+)? (ms|s)|\d+ min( \d+ s)?", text) for text in durations.all_inner_texts()
    )
    assert all(len(lines) == 1 for lines in durations.evaluate_all(f"cells => cells.map({LINES_OF})"))
    view_shot(page, "viewer-search-durations")


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


def queued(trace: str, caller, worker: str, task: str, *, ms: float):
    """A task ``caller`` publishes and ``worker`` runs: a producer span and the consumer's
    run under it, each with its metric row, as the Celery instrumentor records them."""
    sent = add_span(trace, caller.service, f"apply_async/{task}", kind="PRODUCER", parent=caller, ms=1)
    return add_span(trace, worker, f"run/{task}", kind="CONSUMER", parent=sent, ms=ms)


def test_the_services_graph_draws_the_shop_without_crossings_or_covered_labels(page, live_server, stored):
    """The shop's graph since each app has its own queue: REST calls solid, tasks through a
    queue dashed; no label covers another or a node; drawn at its own size in 1280 px."""
    for number in range(2):
        trace = f"q{number}"
        root = add_span(trace, "shop", "POST api/shop/checkout/", ms=80)
        place = call(trace, root, "orders", "POST api/orders/<uuid:order_id>/place/", ms=12)
        finalize = queued(trace, place, "orders-worker", "orders.finalize_order", ms=40)
        call(trace, finalize, "payments", "POST api/payments/captures/", ms=8)
        call(trace, finalize, "inventory", "POST api/inventory/reservations/<uuid:order_id>/commit/", ms=6)
        compensate = queued(trace, finalize, "orders-worker", "orders.compensate_order", ms=9)  # same service
        for app in ("payments", "inventory"):
            undone = queued(trace, compensate, f"{app}-worker", f"{app}.undo", ms=7)
            queued(trace, undone, "orders-worker", "orders.undo_reported", ms=3)
    page.goto(f"{live_server.url}/traces/services/?window=1h")
    graph = page.locator("svg.service-graph")
    expect(graph).to_be_visible()
    services = page.locator("svg.service-graph g.node").evaluate_all("gs => gs.map(g => g.dataset.service)")
    assert set(services) == {
        "shop", "orders", "payments", "inventory", "orders-worker", "payments-worker", "inventory-worker",
    }  # fmt: skip
    queue_edges = page.locator("g.edge[data-via=queue] path")
    assert queue_edges.count() == 5  # orders→orders-worker, to both undo workers, both reports back
    assert all(
        dash == "6 4"
        for dash in queue_edges.evaluate_all("ps => ps.map(p => p.getAttribute('stroke-dasharray'))")
    )
    assert page.locator("g.edge[data-via=http] path[stroke-dasharray]").count() == 0
    boxes = page.evaluate(BOXES_OF_GRAPH)
    overlaps = [
        (a["name"], b["name"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["label"] or b["label"]
        if a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    ]
    assert overlaps == []
    drawn, own = graph.evaluate("svg => [svg.getBoundingClientRect().width, svg.viewBox.baseVal.width]")
    assert drawn == own  # not shrunk to fit: its 10 px labels stay 10 px
    assert "threadline.payments" in page.locator("table.edges").inner_text()
    view_shot(page, "viewer-services-graph")


# Every edge label's and node's box in the graph's own coordinates, named.
BOXES_OF_GRAPH = """() => [
  ...[...document.querySelectorAll('svg.service-graph text.edge-label')].map(t => {
    const b = t.getBBox(), g = t.closest('g.edge');
    const name = g.dataset.source + '>' + g.dataset.target;
    return {name, label: true, x: b.x, y: b.y, w: b.width, h: b.height};
  }),
  ...[...document.querySelectorAll('svg.service-graph g.node rect')].map(r => {
    const b = r.getBBox();
    return {name: r.closest('g.node').dataset.service, label: false, x: b.x, y: b.y, w: b.width, h: b.height};
  }),
]"""


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


def shown_span_rows(page: Page):
    return page.locator("#waterfall tr.span-row:visible")


def test_a_trace_of_2000_spans_opens_folded_and_is_found_in_and_walked_with_keys(page, live_server, stored):
    """The bulk import's 2,001 spans open folded (the failing batch open); find reaches an
    INSERT inside a folded batch, unfolds it and names it in the URL; the keys move, fold,
    unfold and open; the keys box shows."""
    trace = bulk_import()
    save_spans(trace.spans)
    batch5 = next(span for span in trace.spans if span.name == "import batch 5")
    insert = next(span for span in trace.spans if span.parent_span_id == batch5.span_id)
    page.goto(f"{live_server.url}/traces/{trace.trace_id}/")
    rows = shown_span_rows(page)
    expect(rows).to_have_count(1 + 15 + 99)
    expect(page.locator("#folded-spans")).to_contain_text("14 subtrees folded")
    expect(page.locator("#root-cause")).to_be_visible()
    shot(page, "viewer-trace-2000-folded")
    page.locator("#waterfall tr.span-row:visible").last.scroll_into_view_if_needed()
    view_shot(page, "viewer-trace-2000-folded-batches")

    page.keyboard.press("/")
    expect(page.locator("#find")).to_be_focused()
    page.keyboard.type(insert.span_id)
    expect(page.locator("#find-count")).to_have_text("–/1")
    expect(page.locator(f"#span-{batch5.span_id}")).to_have_class(re.compile(r"\bholds-match\b"))
    page.keyboard.press("Enter")
    expect(page.locator("#find-count")).to_have_text("1/1")
    found = page.locator(f"#span-{insert.span_id}")
    expect(found).to_be_visible()
    expect(found).to_have_class(re.compile(r"\bcurrent\b"))
    assert page.evaluate("location.hash") == f"#span-{insert.span_id}"
    expect(rows).to_have_count(1 + 15 + 99 + 99)  # batch 5 unfolded
    view_shot(page, "viewer-trace-find")

    page.keyboard.press("Escape")
    page.keyboard.press("j")
    second = page.locator(f"#waterfall tr[data-parent-id='{batch5.span_id}']").nth(1)
    expect(second).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("k")
    expect(found).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("h")  # a statement has no children: up to its batch
    batch = page.locator(f"#span-{batch5.span_id}")
    expect(batch).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("h")  # folds the batch
    expect(found).to_be_hidden()
    expect(rows).to_have_count(1 + 15 + 99)
    page.keyboard.press("ArrowRight")
    expect(found).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator(f"tr[data-details-for='{batch5.span_id}']")).to_contain_text("copy link to this span")
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_visible()
    view_shot(page, "viewer-trace-keys")
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_hidden()

    # A link to a span this page leaves undrawn opens the page that draws them all.
    batch20 = next(span for span in trace.spans if span.name == "import batch 20")
    last = [span for span in trace.spans if span.parent_span_id == batch20.span_id][-1]
    page.goto(f"{live_server.url}/traces/{trace.trace_id}/#span-{last.span_id}")
    expect(page).to_have_url(re.compile(rf"\?all=1#span-{last.span_id}$"))
    expect(page.locator(f"#span-{last.span_id}")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator(f"#span-{last.span_id}")).to_be_in_viewport()


def test_a_deep_link_opens_its_span_and_the_page_copies_links_counts_and_gives_the_json(
    page, live_server, stored
):
    """A URL ending in #span-<id> selects, opens and scrolls to that span; the retried
    task's runs are siblings labelled by attempt; the span's details copy a link to it; the
    statistics count the trace; the raw JSON is its stored spans."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    compensation = Span.objects.get(trace_id=stored["failed"], name="run/orders.compensate_order")
    url = f"{live_server.url}/traces/{stored['failed']}/"
    page.goto(f"{url}#span-{compensation.span_id}")
    row = page.locator(f"#span-{compensation.span_id}")
    expect(row).to_have_class(re.compile(r"\bcurrent\b"))
    expect(row).to_be_in_viewport()
    details = page.locator(f"tr[data-details-for='{compensation.span_id}']")
    expect(details).to_contain_text("orders.compensate_order")
    # The failed order's three finalize runs: siblings, labelled, not a staircase.
    runs = page.locator("#waterfall tr.span-row", has_text="run/orders.finalize_order")
    expect(runs.locator(".marker.attempt")).to_have_text(["attempt 1", "attempt 2", "attempt 3"])
    assert len({run.get_attribute("data-depth") for run in runs.all()}) == 1
    view_shot(page, "viewer-trace-deep-link")  # where the link lands, the attempts above it
    details.locator("[data-copy-link]").click()
    expect(details.locator("[data-copy-link]")).to_have_text("link copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{url}#span-{compensation.span_id}"

    page.click("#stats summary")
    expect(page.locator("#stats-services")).to_be_visible()
    expect(page.locator("#stats summary")).to_contain_text("5 services")
    page.locator("#stats").evaluate("element => element.scrollIntoView()")
    view_shot(page, "viewer-trace-stats")
    page.click("#stats-operations a[data-find='run/orders.finalize_order']")  # finds its spans
    expect(page.locator("#find")).to_have_value("run/orders.finalize_order")
    expect(page.locator("#find-count")).to_have_text("1/3")

    assert page.locator("#raw-json").get_attribute("href") == "?format=json"
    document = page.request.get(f"{url}?format=json").json()
    assert document["span_count"] == Span.objects.filter(trace_id=stored["failed"]).count()
