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
from telemetry.viewer.waterfall import MAX_ROWS_DRAWN
from tests.chromium import OUTPUT, WAIT_MS, launch

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
        tab.set_default_timeout(WAIT_MS)
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
        call(trace, root, "inventory", "POST api/inventory/reservations/", ms=6)
        call(
            trace,
            root,
            "payments",
            "POST api/payments/authorizations/",
            ms=30,
            status="ERROR" if number == 0 else "UNSET",
        )
        place = call(trace, root, "orders", "POST api/orders/<uuid:order_id>/place/", ms=12)
        if number == 0:  # the checkout's own undo, in the request
            call(trace, place, "payments", "POST api/payments/authorizations/<uuid:order_id>/cancel/", ms=5)
            call(trace, place, "inventory", "POST api/inventory/reservations/<uuid:order_id>/release/", ms=4)
        finalize = queued(trace, place, "orders-worker", "orders.finalize_order", ms=40)
        for app, task in (
            ("payments", "payments.capture_payment"),
            ("inventory", "inventory.commit_reservation"),
        ):
            step = queued(trace, finalize, f"{app}-worker", task, ms=7)
            queued(trace, step, "orders-worker", "orders.record_step", ms=3)
        reconcile = add_span(trace, "orders-worker", "run/orders.reconcile", kind="CONSUMER", ms=9)
        call(trace, reconcile, "inventory", "POST api/inventory/reservations/expire/", ms=5)
    page.goto(f"{live_server.url}/traces/services/?window=1h")
    graph = page.locator("svg.service-graph")
    expect(graph).to_be_visible()
    services = page.locator("svg.service-graph g.node").evaluate_all("gs => gs.map(g => g.dataset.service)")
    assert set(services) == {
        "shop", "orders", "payments", "inventory", "orders-worker", "payments-worker", "inventory-worker",
    }  # fmt: skip
    queue_edges = page.locator("g.edge[data-via=queue] path")
    # orders→orders-worker, and to each undo worker and back: one line with two arrows each.
    assert queue_edges.count() == 3
    two_way = page.locator("g.edge[data-two-way=true]")
    assert sorted(two_way.evaluate_all("gs => gs.map(g => g.dataset.target)")) == [
        "inventory-worker",
        "payments-worker",
    ]
    expect(two_way.first.locator("text.edge-label")).to_contain_text("→ 2 calls")
    expect(two_way.first.locator("text.edge-label")).to_contain_text("← 2 calls")
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
    """The bulk import's 2,001 spans open folded (the failing batch open), the folded
    batches' INSERTs not sent; find (asked of the server) reaches an INSERT inside a folded
    batch, unfolds it (fetching its rows) and names it in the URL; the keys move, fold,
    unfold and open; the keys box shows; a deep link into a folded batch fetches its way."""
    trace = bulk_import()
    save_spans(trace.spans)
    batch5 = next(span for span in trace.spans if span.name == "import batch 5")
    insert = next(span for span in trace.spans if span.parent_span_id == batch5.span_id)
    page.goto(f"{live_server.url}/traces/{trace.trace_id}/")
    rows = shown_span_rows(page)
    expect(rows).to_have_count(1 + 20 + 99)
    expect(page.locator("#folded-spans")).to_contain_text("19 subtrees folded")
    assert page.locator("#waterfall tr.span-row").count() == 1 + 20 + 99  # nothing hidden sent
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
    expect(rows).to_have_count(1 + 20 + 99 + 99)  # batch 5 unfolded
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
    expect(rows).to_have_count(1 + 20 + 99)
    page.keyboard.press("ArrowRight")
    expect(found).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator(f"tr[data-details-for='{batch5.span_id}']")).to_contain_text("copy link to this span")
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_visible()
    view_shot(page, "viewer-trace-keys")
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_hidden()

    # A link to a span in a folded batch not sent with the page: its rows are fetched.
    batch20 = next(span for span in trace.spans if span.name == "import batch 20")
    last = [span for span in trace.spans if span.parent_span_id == batch20.span_id][-1]
    page.goto(f"{live_server.url}/traces/{trace.trace_id}/#span-{last.span_id}")
    expect(page.locator(f"#span-{last.span_id}")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator(f"#span-{last.span_id}")).to_be_in_viewport()
    assert page.url.endswith(f"/traces/{trace.trace_id}/#span-{last.span_id}")  # no reload
    expect(rows).to_have_count(1 + 20 + 3 * 99)  # a hash change: batches 2, 5 and 20 open
    # Unfold all fetches the other 17 folded batches in one request, as many rows as the
    # limit takes (1,500: 15 batches and 15 rows of the 16th, its rest counted in a "not
    # drawn" row); the 17th says so. Fold all folds everything again.
    page.click("#expand-all")
    expect(rows).to_have_count(1 + 20 + 3 * 99 + 1500)
    expect(page.locator("#waterfall tr.elided:visible")).to_contain_text("84 more spans")
    expect(page.locator("#waterfall tr.folded-rest:visible")).to_have_count(1)
    expect(page.locator("#waterfall tr.folded-rest").first).to_contain_text("over the page's rows limit")
    page.click("#collapse-all")
    expect(rows).to_have_count(1)


def test_a_deep_link_to_a_span_past_the_drawing_limits_keeps_the_zoom(page, live_server):
    """A span past the page's rows limit that no drawn span leads to (a root of a trace of
    many roots, as a trace whose parents were never stored is) cannot be unfolded into the
    page: the page is drawn again with the way to it (``?show=``), and when even that leaves
    it out, whole (``?all=1``); the link's zoom is kept throughout."""
    trace = span_rows.TraceBuilder()
    for n in range(MAX_ROWS_DRAWN + 20):
        trace.span(f"job {n}", service="orders-worker", start=n, ms=0.5)
    save_spans(trace.spans)
    last = trace.spans[-1]
    zoom = "zoom=0.10000-0.90000"
    page.goto(f"{live_server.url}/traces/{trace.trace_id}/?{zoom}#span-{last.span_id}")
    # Three pages of 1,500 rows are served and drawn before it lands (tests.chromium.WAIT_MS).
    expect(page.locator(f"#span-{last.span_id}")).to_have_class(re.compile(r"\bcurrent\b"))
    assert "all=1" in address(page) and zoom in address(page), address(page)
    expect(page.locator("#zoom-reset")).to_be_visible()


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


def address(page: Page) -> str:
    """The address bar as the page set it (``history.replaceState`` included)."""
    return page.evaluate("location.href")


def test_the_minimap_zooms_the_waterfall_and_the_flame_graph_selects_a_span(page, live_server, stored):
    """The minimap's time axis is the bars' (same left and right edges); dragging over it
    zooms the waterfall's axis and bars to that window, kept in the URL (a reload keeps it),
    ``0`` and the reset button undo it, ``+``/``-`` zoom; the flame graph draws the trace and
    a click on a frame selects its span."""
    url = f"{live_server.url}/traces/{stored['failed']}/"
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    area = page.locator("#minimap-area")
    expect(area.locator("svg rect").first).to_be_attached()
    expect(page.locator("#zoom-reset")).to_be_hidden()
    area.evaluate("element => element.scrollIntoView({block: 'center'})")
    box = area.bounding_box()
    assert box and box["height"] >= 20
    lane = page.locator("#waterfall .lane").first.bounding_box()
    assert lane and abs(box["x"] - lane["x"]) <= 1 and abs(box["width"] - lane["width"]) <= 1, (box, lane)
    ticks = page.locator("#waterfall .tick")
    before = ticks.all_inner_texts()
    page.mouse.move(box["x"] + box["width"] * 0.02, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(page.locator("#zoom-reset")).to_be_visible()
    assert re.search(r"[?&]zoom=0\.0\d+-0\.1\d+", address(page)), address(page)
    assert ticks.all_inner_texts() != before
    bars = page.locator("#waterfall .bar")
    widths = bars.evaluate_all("bars => bars.map(bar => parseFloat(bar.style.width))")
    assert max(widths) > 100  # the root's bar now reaches past the zoomed window (clipped)
    # Below the sticky find bar: the window on the minimap, its label and the zoomed axis.
    page.locator("#minimap").evaluate("element => { element.scrollIntoView(); window.scrollBy(0, -60); }")
    view_shot(page, "viewer-trace-minimap-zoom")
    zoomed = address(page)
    page.goto(zoomed)
    expect(page.locator("#zoom-reset")).to_be_visible()
    assert not errors, errors
    assert address(page) == zoomed and ticks.all_inner_texts() != before
    page.keyboard.press("0")
    expect(page.locator("#zoom-reset")).to_be_hidden()
    assert ticks.all_inner_texts() == before and "zoom=" not in address(page)
    page.keyboard.press("+")
    expect(page.locator("#zoom-label")).to_contain_text("showing")
    page.click("#zoom-reset")
    expect(page.locator("#zoom-label")).to_have_text("")

    page.click("#flame summary")
    flame = page.locator("#flame-svg")
    expect(flame).to_be_visible()
    expect(flame.locator("a.frame.error").first).to_be_attached()
    page.locator("#flame").evaluate("element => element.scrollIntoView()")
    view_shot(page, "viewer-trace-flame")
    root = flame.locator("a.frame").first
    span_id = root.get_attribute("data-span-id")
    root.locator("rect").click()
    expect(page.locator(f"#span-{span_id}")).to_have_class(re.compile(r"\bcurrent\b"))
