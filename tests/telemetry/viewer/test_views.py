"""The trace viewer's pages (telemetry/views.py) as a staff member and as a stranger, on
traces stored through the store's own exporter."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan

from synthetic.builders import UPDATE_CONFIRMATION, Recorder, confirmed_order, failed_order
from telemetry.models import LogRecord, Span, Trace
from telemetry.viewer.otlp import from_otlp, to_otlp
from telemetry.viewer.waterfall import service_colour
from tests.telemetry.diagnosis.test_stack import WRAPPED, WRAPPER_ONLY

pytestmark = pytest.mark.django_db(databases="__all__")
FAILED_ORDER = "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01"


@pytest.fixture
def failed() -> Recorder:
    rec = Recorder()
    failed_order(rec, FAILED_ORDER, attempts=3)
    rec.store()
    return rec


@pytest.fixture
def confirmed() -> Recorder:
    rec = Recorder()
    confirmed_order(rec)
    rec.store()
    return rec


def started(span: ReadableSpan) -> int:
    """A finished span's start (the SDK types it optional, for a span not yet started)."""
    assert span.start_time is not None
    return span.start_time


def span_id(rec: Recorder, name: str, index: int = 0) -> str:
    spans = sorted((s for s in rec.finished() if s.name == name), key=started)
    return format(spans[index].context.span_id, "016x")


def confirmation_update(rec: Recorder, attempt: int) -> str:
    """The span id of the confirmation UPDATE of finalize attempt ``attempt`` (from 1)."""
    updates = [s for s in rec.finished() if (s.attributes or {}).get("db.statement") == UPDATE_CONFIRMATION]
    return format(sorted(updates, key=started)[attempt - 1].context.span_id, "016x")


def span_rows(html: str) -> dict[str, dict]:
    """The waterfall's rows by span id: their classes, parent and depth."""
    pattern = (
        r'<tr class="span-row([^"]*)"\s+id="[^"]+"\s+'
        r'data-span-id="(\w+)" data-parent-id="(\w*)" data-depth="(\d+)"'
    )
    return {
        span: {"classes": classes.split(), "parent": parent, "depth": int(depth)}
        for classes, span, parent, depth in re.findall(pattern, html)
    }


def details_of(html: str, span: str) -> str:
    """The details row of a span (up to the next span's row)."""
    start = html.index(f'data-details-for="{span}"')
    end = html.find('<tr class="span-row', start)
    return html[start : end if end != -1 else None]


def compare_rows(html: str) -> dict[tuple[str, str], list[str]]:
    """The comparison's rows by (service, operation): their classes."""
    pattern = r'<tr class="op([^"]*)"[^>]*>\s*<td><span[^>]*>([^<]+)</span></td>\s*<td>([^<]+)</td>'
    return {
        (service, unescape(name)): classes.split() for classes, service, name in re.findall(pattern, html)
    }


def element(html: str, element_id: str) -> str:
    """The opening tag and text of the table row with this id (to the next row)."""
    start = html.index(f'id="{element_id}"')
    return html[html.rindex("<tr", 0, start) : html.index("<tr", start)]


def between(html: str, start: str, end: str) -> str:
    """The page from ``start`` to the next ``end``."""
    first = html.index(start)
    return html[first : html.index(end, first)]


@pytest.mark.parametrize(
    "path",
    ["/traces/", "/traces/0af7651916cd43dd8448eb211c80319c/", "/traces/compare/?a=1&b=2",
     "/traces/0af7651916cd43dd8448eb211c80319c/otlp.json"],
)  # fmt: skip
def test_strangers_are_sent_to_log_in(client, path):
    """Traces show statements, addresses and order ids: staff only."""
    response = client.get(path)
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_strangers_cannot_load_a_trace(client):
    """Only staff may write into the store."""
    response = client.post("/traces/load/", {"file": SimpleUploadedFile("t.json", b"{}")})
    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_search_lists_traces_with_root_operation_services_spans_duration_errors(
    admin_client, failed, confirmed
):
    """Rows newest first, services as coloured chips, the error badge, the order; the upload form."""
    html = admin_client.get("/traces/").content.decode()
    rows = re.findall(r'<tr class="trace-row" data-trace-id="([0-9a-f]{32})"', html)
    assert rows == [confirmed.trace_id, failed.trace_id]  # newest first
    assert "POST api/shop/checkout/" in html
    assert f'style="background:{service_colour("orders-worker")}">orders-worker</span>' in html
    assert "6 errors" in html and FAILED_ORDER in html
    assert 'action="/traces/load/"' in html and "csrfmiddlewaretoken" in html


def test_search_shows_a_long_trace_in_seconds_that_do_not_wrap(admin_client):
    """A 30,080 ms trace reads "30.1 s" (the exact milliseconds on hover), in a cell that
    does not wrap, not "30080.0 ms"."""
    rec = Recorder()
    rec.span("GET slow/", service="shop", start=0, ms=30_080, kind="SERVER")
    rec.store()
    html = admin_client.get("/traces/").content.decode()
    assert '<td class="duration" title="30080.0 ms">30.1 s</td>' in html
    assert "30080.0 ms</td>" not in html


def test_search_filters_from_the_query_string(admin_client, failed, confirmed):
    """Errors only, an attribute with dots in its key, a sort; the form keeps them."""
    html = admin_client.get("/traces/", {"errors": "on"}).content.decode()
    assert failed.trace_id in html and confirmed.trace_id not in html
    html = admin_client.get(
        "/traces/", {"attr": [f"order.id={FAILED_ORDER}"], "sort": "slowest"}
    ).content.decode()
    assert failed.trace_id in html and confirmed.trace_id not in html
    assert f'value="order.id={FAILED_ORDER}"' in html
    html = admin_client.get("/traces/", {"service": "payments", "operation": "capture"}).content.decode()
    assert confirmed.trace_id in html and failed.trace_id not in html
    assert '<option value="payments" selected>' in html


@pytest.mark.parametrize(
    "attr",
    ["regex=.*" + "(x|y)?" * 80, "isnull=" + "x" * 401, "a__b=1", "__class__=x", "in=" + "x" * 401],
    ids=["regex", "isnull", "a__b", "__class__", "in"],
)
def test_an_attribute_key_named_like_a_lookup_matches_nothing_and_never_fails(admin_client, failed, attr):
    """Keys are data: ``regex``, ``isnull`` or ``a__b`` is searched as a key no span has,
    a page with no results (not every trace, not a 500), long values included."""
    page = admin_client.get("/traces/", {"attr": attr})  # a 500 would raise here
    assert page.status_code == 200
    assert failed.trace_id not in page.content.decode()


def test_search_says_what_is_wrong_with_a_filter(admin_client, failed):
    """An invalid filter is named on the page, and no results pretend to match it."""
    html = admin_client.get("/traces/", {"attr": "order.id", "min_ms": "5", "max_ms": "1"}).content.decode()
    assert "Attribute filters are key=value" in html
    assert "The maximum is below the minimum." in html
    assert "trace-row" not in html


def test_search_pages_keep_the_filters(admin_client, failed):
    """Paginated (25 a page); the page links keep the filters."""
    for minutes in range(30):
        rec = Recorder()
        rec.span("GET api/shop/products/", service="shop", start=minutes, ms=3)
        rec.store()
    html = admin_client.get("/traces/", {"service": "shop"}).content.decode()
    assert "31 traces, page 1 of 2" in html
    assert "?service=shop&amp;page=2" in html
    page_two = admin_client.get("/traces/", {"service": "shop", "page": 2}).content.decode()
    assert page_two.count('class="trace-row"') == 6


def test_the_trace_page_marks_the_root_cause_and_shows_its_exception(admin_client, failed):
    """The first attempt's failing UPDATE (earliest, deepest error) is the root cause: its
    row has the id ``root-cause`` and its exception is on the page, unclicked."""
    response = admin_client.get(f"/traces/{failed.trace_id}/")
    html = response.content.decode()
    row = element(html, "root-cause")
    assert f'data-span-id="{confirmation_update(failed, 1)}"' in row
    assert "UPDATE" in row and "sqlite3.OperationalError: interrupted" in row
    box = html[html.index('class="root-cause-box"') :]
    box = box[: box.index("</section>")]
    assert '<strong class="mono">sqlite3.OperationalError</strong>: interrupted' in box
    assert "Traceback (most recent call last)" in box and "<details open>" in box
    assert "fault <code>order_db_timeout</code>" in box
    details = html[html.index(f'data-details-for="{confirmation_update(failed, 1)}"') :]
    assert details.startswith(f'data-details-for="{confirmation_update(failed, 1)}"><td')  # not hidden


def test_a_rows_note_is_cut_to_fit_and_whole_on_hover(admin_client):
    """What the folded statements wrote can outgrow the name column: the row shows the
    start, its title all of it."""
    writes = [f"INSERT orders_table_{n} ×2" for n in range(6)]
    rec = Recorder()
    rec.span(
        "run/orders.record_step",
        service="orders-worker",
        start=0,
        ms=12,
        attributes={"db.summary.count": 14, "db.summary.duration_ms": 3.0, "db.summary.writes": writes},
    )
    rec.store()
    html = unescape(admin_client.get(f"/traces/{rec.trace_id}/").content.decode())
    whole = "14 statements, 3.0 ms; wrote " + ", ".join(writes)
    assert len(whole) > 90 and f'title="{whole}">{whole[:89]}…</span>' in html


def test_the_trace_page_header_names_duration_services_counts_and_the_order(admin_client, failed):
    """The header: span and error counts, services, the order's admin page (by URL: no
    import of orders), the download and the compare form."""
    html = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    spans = Span.objects.filter(trace_id=failed.trace_id)
    assert f"<strong>{spans.count()}</strong> spans" in html
    assert "6 errors" in html
    assert f'href="/admin/orders/order/{FAILED_ORDER}/change/"' in html
    for service in ("shop", "orders", "inventory", "payments", "orders-worker"):
        assert f'style="background:{service_colour(service)}">{service}</span>' in html
    assert f'href="/traces/{failed.trace_id}/otlp.json"' in html
    assert 'id="compare-form"' in html and f'name="a" value="{failed.trace_id}"' in html


def test_the_waterfall_nests_spans_marks_errors_and_the_critical_path(admin_client, failed):
    """Rows are nested by parent; the attempts, their UPDATEs and the compensation are on
    the critical path; the outbox UPDATE that ran while the task was queued is not."""
    html = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    rows = span_rows(html)
    assert len(rows) == Span.objects.filter(trace_id=failed.trace_id).count()
    assert rows[span_id(failed, "POST api/shop/checkout/")]["depth"] == 0
    assert rows[span_id(failed, "checkout")]["parent"] == span_id(failed, "POST api/shop/checkout/")
    assert rows[span_id(failed, "checkout")]["depth"] == 1
    for attempt in range(3):
        run = rows[span_id(failed, "run/orders.finalize_order", attempt)]
        assert {"error", "critical"} <= set(run["classes"])
    assert "critical" in rows[confirmation_update(failed, 1)]["classes"]  # the retry waited for it
    assert "critical" in rows[span_id(failed, "run/orders.compensate_order")]["classes"]
    outbox = [s for s in failed.finished() if "orders_outboxmessage" in s.attributes.get("db.statement", "")]
    assert "critical" not in rows[format(outbox[0].context.span_id, "016x")]["classes"]
    assert html.count('class="marker cause"') == 2  # the root cause's row and the legend


def test_a_spans_details_show_attributes_resource_events_links_and_its_logs(admin_client, failed):
    """Clicking a span opens these: attributes, resource, the exception event with its stack
    trace, links to other traces, and the log records written inside the span."""
    update = confirmation_update(failed, 2)
    LogRecord.objects.create(
        trace_id=failed.trace_id,
        span_id=update,
        time_ns=failed.at(600),
        level="WARN",
        logger="orders.tasks",
        message="finalize of order failed (attempt 2), retrying",
        service="orders-worker",
    )
    Span.objects.filter(trace_id=failed.trace_id, span_id=update).update(
        links=[{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {}}]
    )
    html = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    assert "✎1" in html
    assert "db.statement" not in details_of(html, update)  # fetched when opened, not sent up front
    assert f'data-details-url="/traces/{failed.trace_id}/spans/"' in html
    response = admin_client.get(f"/traces/{failed.trace_id}/spans/{update}/")
    assert response.status_code == 200
    details = response.content.decode()
    assert "db.statement" in details and "orders_order" in details
    assert "service.namespace" in details and "threadline" in details
    assert "sqlite3.OperationalError" in details and "Traceback" in details
    assert "finalize of order failed (attempt 2), retrying" in details and "orders.tasks" in details
    assert f'href="/traces/{"ab" * 16}/#span-{"cd" * 8}"' in details


@pytest.mark.parametrize(
    ("cpu_ms", "shown"),
    [
        (12.0, "12.000 ms, 4% of its duration: mostly waiting"),
        (270.0, "270.000 ms, 90% of its duration: mostly computing"),
        (None, None),
    ],
)
def test_a_request_or_task_runs_details_say_if_it_computed_or_waited(admin_client, failed, cpu_ms, shown):
    """The CPU its thread spent (``threadline.cpu_ms``) beside its duration, in words."""
    run = span_id(failed, "run/orders.finalize_order")
    span = Span.objects.get(trace_id=failed.trace_id, span_id=run)
    span.end_time_ns = span.start_time_ns + 300_000_000
    span.duration_ns = 300_000_000
    span.attributes = {**span.attributes, **({"threadline.cpu_ms": cpu_ms} if cpu_ms is not None else {})}
    span.save()
    details = admin_client.get(f"/traces/{failed.trace_id}/spans/{run}/").content.decode()
    if shown is None:
        assert "<td>CPU</td>" not in details
    else:
        assert "<td>CPU</td><td" in details and shown in details


def test_details_of_a_span_the_trace_does_not_have_are_not_found(admin_client, client, failed):
    assert admin_client.get(f"/traces/{failed.trace_id}/spans/{'0' * 16}/").status_code == 404
    assert admin_client.get(f"/traces/{'0' * 32}/spans/{'0' * 16}/").status_code == 404
    update = confirmation_update(failed, 1)
    assert client.get(f"/traces/{failed.trace_id}/spans/{update}/").status_code == 302  # to log in


def test_an_unknown_trace_is_not_found(admin_client):
    """A trace id with no stored spans is a 404."""
    assert admin_client.get("/traces/0af7651916cd43dd8448eb211c80319c/").status_code == 404


def test_compare_matches_operations_and_highlights_what_differs(admin_client, failed, confirmed):
    """A failed order against a confirmed one: the retries, the errors, the compensation
    on one side, the capture on the other; the checkout request matches on both."""
    response = admin_client.get("/traces/compare/", {"a": failed.trace_id, "b": confirmed.trace_id})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="side-a"' in html and 'id="side-b"' in html
    rows = compare_rows(html)
    assert {"changed", "count", "errors"} <= set(rows[("orders-worker", "run/orders.finalize_order")])
    assert rows[("orders-worker", "run/orders.compensate_order")] == ["changed", "only_a"]
    capture = ("payments", "POST api/payments/payments/<uuid:order_id>/capture/")
    assert rows[capture] == ["changed", "only_b"]
    assert rows[("shop", "POST api/shop/checkout/")] == []
    assert "only in B" in html


def test_compare_says_which_trace_it_does_not_know(admin_client, failed):
    """An unknown trace id is named; the page without ids is the empty form."""
    response = admin_client.get("/traces/compare/", {"a": failed.trace_id, "b": "f" * 32})
    assert response.status_code == 404
    assert f"No spans stored for trace <code>{'f' * 32}</code>" in response.content.decode()
    assert admin_client.get("/traces/compare/").status_code == 200  # the empty form


def test_download_is_the_trace_as_otlp_json(admin_client, failed):
    """An attachment holding ``to_otlp`` of the stored spans; 404 for an unknown trace."""
    response = admin_client.get(f"/traces/{failed.trace_id}/otlp.json")
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="trace-{failed.trace_id}.otlp.json"'
    document = json.loads(response.content)
    assert document == json.loads(json.dumps(to_otlp(Span.objects.filter(trace_id=failed.trace_id))))
    assert admin_client.get(f"/traces/{'f' * 32}/otlp.json").status_code == 404


def test_a_downloaded_trace_loads_back_and_opens(admin_client, failed):
    """Download, delete, upload: the same spans are stored again and the page opens."""
    before = sorted(
        Span.objects.filter(trace_id=failed.trace_id).values_list("span_id", "name", "attributes")
    )
    document = admin_client.get(f"/traces/{failed.trace_id}/otlp.json").content
    Span.objects.filter(trace_id=failed.trace_id).delete()
    response = admin_client.post("/traces/load/", {"file": SimpleUploadedFile("trace.json", document)})
    assert response.status_code == 302 and response.url == f"/traces/{failed.trace_id}/"
    after = sorted(Span.objects.filter(trace_id=failed.trace_id).values_list("span_id", "name", "attributes"))
    assert after == before
    page = admin_client.get(response.url).content.decode()
    assert f"Loaded trace.json: {len(before)} spans in 1 trace(s), {len(before)} new." in page
    assert 'id="root-cause"' in page


def test_loading_the_same_file_twice_adds_nothing(admin_client, failed):
    """Spans already stored are kept as they are, and the message says none was new."""
    document = json.dumps(to_otlp(from_otlp(to_otlp(Span.objects.filter(trace_id=failed.trace_id))))).encode()
    admin_client.post("/traces/load/", {"file": SimpleUploadedFile("again.json", document)})
    page = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    assert ", 0 new." in page


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(b"not json", "Could not load bad.json"), (b'{"resourceSpans": []}', "the document holds no spans"),
     (b"\xff\xfe", "Could not load bad.json")],
)  # fmt: skip
def test_a_file_that_is_not_an_otlp_trace_is_refused_and_nothing_stored(admin_client, content, complaint):
    """Not JSON, not UTF-8, or no spans: back to the search page with the reason, nothing stored."""
    response = admin_client.post(
        "/traces/load/", {"file": SimpleUploadedFile("bad.json", content)}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/traces/"
    assert complaint in response.content.decode()
    assert not Span.objects.exists()


def test_loading_needs_the_csrf_token(admin_user):
    """A form post from another site cannot plant traces."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/traces/load/", {"file": SimpleUploadedFile("t.json", b"{}")})
    assert response.status_code == 403
    assert client.get("/traces/load/").status_code == 405


def test_the_trace_page_shows_the_diagnosis_of_its_spans(admin_client, failed):
    """The diagnosis computed from the same stored spans is on the page: its one-line
    summary, self time per service and the propagation path."""
    from django.utils.html import escape

    from telemetry.diagnosis.analysis import analyze
    from telemetry.diagnosis.text import summary_line
    from telemetry.selectors import trace_spans

    diagnosis = analyze(trace_spans(failed.trace_id))
    html = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    assert escape(summary_line(diagnosis)) in html
    assert "Self time by service" in html and "How the error propagated" in html


def test_search_as_json_gives_the_rows_the_page_shows(admin_client, failed, confirmed):
    """``?format=json``: the same traces in the same order, with the figures of each row
    and the page's counts."""
    html = admin_client.get("/traces/", {"sort": "slowest"})
    response = admin_client.get("/traces/", {"sort": "slowest", "format": "json"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    found = response.json()
    page = html.context["page"]
    assert [row["trace_id"] for row in found["traces"]] == [trace.trace_id for trace in page.object_list]
    assert (found["page"], found["pages"], found["total"]) == (1, 1, 2)
    shown = {trace.trace_id: trace for trace in page.object_list}
    for row in found["traces"]:
        trace = shown[row["trace_id"]]
        assert row["root_operation"] == trace.root_name
        assert row["duration_ms"] == trace.duration_ms
        assert (row["spans"], row["errors"]) == (trace.span_count, trace.error_count)
        assert row["services"] == list(trace.services)
        assert row["start"] == trace.started_at.isoformat()
    [failed_row] = [row for row in found["traces"] if row["trace_id"] == failed.trace_id]
    assert failed_row["order_ids"] == [FAILED_ORDER] and failed_row["errors"] == 6


def test_search_as_json_keeps_the_filters_and_pages(admin_client, failed):
    """Filters and ``page`` apply as on the HTML page; the counts say how many in all."""
    for minutes in range(30):
        rec = Recorder()
        rec.span("GET api/shop/products/", service="shop", start=minutes, ms=3)
        rec.store()
    found = admin_client.get("/traces/", {"service": "shop", "page": 2, "format": "json"}).json()
    assert (found["page"], found["pages"], found["per_page"], found["total"]) == (2, 2, 25, 31)
    assert len(found["traces"]) == 6


def test_search_as_json_answers_an_invalid_filter_with_400_and_the_errors(admin_client, failed):
    """An invalid filter is a client error, named field by field as Django's form errors."""
    response = admin_client.get(
        "/traces/", {"attr": "order.id", "min_ms": "5", "max_ms": "1", "format": "json"}
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["max_ms"][0]["message"] == "The maximum is below the minimum."
    assert "Attribute filters are key=value" in errors["__all__"][0]["message"]


def test_search_as_json_is_for_staff_only(client, failed):
    """An anonymous script gets the login redirect, not the traces."""
    response = client.get("/traces/", {"format": "json"})
    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def sampling_box(html: str) -> str:
    box = html[html.index('id="sampling"') :]
    return " ".join(box[: box.index("</section>")].split())


def test_the_trace_page_says_which_sampling_rules_kept_the_trace(admin_client, failed, settings):
    """The head rule and probability on the root span, and tail retention's reason."""
    root = Span.objects.get(trace_id=failed.trace_id, parent_span_id="")
    root.attributes |= {"sampling.rule": "api/shop/checkout/", "sampling.probability": 1.0}
    root.save()
    settings.TELEMETRY_TAIL_SAMPLING = True
    assert "not decided yet" in sampling_box(admin_client.get(f"/traces/{failed.trace_id}/").content.decode())

    Trace.objects.filter(trace_id=failed.trace_id).update(decision="keep", decision_reason="error")
    box = sampling_box(admin_client.get(f"/traces/{failed.trace_id}/").content.decode())

    assert "head: rule <code>api/shop/checkout/</code> at 100.0%" in box
    assert "tail: kept, <code>error</code> (every trace with an error is kept)" in box


def test_the_trace_page_names_the_share_and_tier_of_a_sampled_trace(admin_client, confirmed):
    """A trace kept by the base share shows the share it was drawn at and the tier."""
    Trace.objects.filter(trace_id=confirmed.trace_id).update(
        decision="keep", decision_reason="base", decision_share=0.15, tier="premium"
    )
    box = sampling_box(admin_client.get(f"/traces/{confirmed.trace_id}/").content.decode())
    assert "kept, <code>base</code> (drawn at 15.0%, tier <code>premium</code>)" in box


def test_the_trace_page_says_an_incomplete_trace_lost_its_early_spans(admin_client, failed):
    """Kept by a late error after a drop: the page says the earlier spans are gone."""
    Trace.objects.filter(trace_id=failed.trace_id).update(
        decision="keep", decision_reason="late_error", incomplete=True
    )
    box = sampling_box(admin_client.get(f"/traces/{failed.trace_id}/").content.decode())
    assert "an error arrived after the trace was dropped" in box
    assert "Incomplete:</strong> spans that arrived before the drop are gone" in box


def test_with_tail_retention_off_the_trace_page_says_it_is_kept(admin_client, confirmed):
    """Off (the default), an undecided trace is simply kept."""
    box = sampling_box(admin_client.get(f"/traces/{confirmed.trace_id}/").content.decode())
    assert "tail retention is off: kept" in box and "recorded in full" in box


# --- hostile uploads (issue 10): refused with a reason, or stored and shown --------------

GOOD_TRACE, HOSTILE_TRACE = "1" * 32, "2" * 32


def otlp_span(span_hex: str, trace_id: str = GOOD_TRACE, **fields) -> dict:
    """An OTLP JSON span (ids hex, times strings) with ``fields`` replacing its defaults."""
    return {
        "traceId": trace_id,
        "spanId": span_hex * (16 // len(span_hex)),
        "name": "work",
        "startTimeUnixNano": "1000000",
        "endTimeUnixNano": "3000000",
        **fields,
    }


def otlp_file(*spans: dict) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}).encode()


def upload(client, content: bytes, name: str = "hostile.json"):
    """Posts the file; returns the (unfollowed) response and the messages it set."""
    response = client.post("/traces/load/", {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 302
    return response, [str(message) for message in get_messages(response.wsgi_request)]


def assert_every_stored_page_renders(client) -> None:
    """Every stored trace's page and every span's details answer 200."""
    for trace_id, span in Span.objects.values_list("trace_id", "span_id"):
        assert client.get(f"/traces/{trace_id}/").status_code == 200
        assert client.get(f"/traces/{trace_id}/spans/{span}/").status_code == 200


def attr(key: str, value: dict) -> dict:
    return {"key": key, "value": value}


def assert_one_refused(client, hostile: dict, reason: str) -> None:
    """A file of one good span and ``hostile``: the good one stored, the hostile one
    refused with ``reason`` in the message, and every stored page renders."""
    response, said = upload(client, otlp_file(otlp_span("a"), hostile))
    assert response.url == f"/traces/{GOOD_TRACE}/"
    assert "Loaded hostile.json: 1 spans in 1 trace(s), 1 new." in said
    [refusal] = [text for text in said if text.startswith("Refused 1 of 2 spans in hostile.json")]
    assert reason in refusal
    assert list(Span.objects.values_list("trace_id", flat=True)) == [GOOD_TRACE]
    assert_every_stored_page_renders(client)


@pytest.mark.parametrize("key", ["items", "keys", "values", "get", "update"])
def test_attributes_named_like_dict_methods_are_stored_and_every_page_shows_them(admin_client, key):
    """An event's, a link's, a span's and a resource's attribute named ``items`` (a dict
    method the template language would call) is shown like any other."""
    hostile = otlp_span(
        "b",
        attributes=[attr(key, {"intValue": "7"})],
        events=[{"name": "retry", "timeUnixNano": "2000", "attributes": [attr(key, {"stringValue": "e"})]}],
        links=[{"traceId": GOOD_TRACE, "spanId": "a" * 16, "attributes": [attr(key, {"boolValue": True})]}],
    )
    response, said = upload(admin_client, otlp_file(otlp_span("a"), hostile))
    assert "Loaded hostile.json: 2 spans in 1 trace(s), 2 new." in said
    assert_every_stored_page_renders(admin_client)
    details = admin_client.get(f"/traces/{GOOD_TRACE}/spans/{'b' * 16}/").content.decode()
    assert f'<td>{key}</td><td class="mono">e</td>' in details and f"{key}=True" in details


def test_an_empty_link_trace_id_is_refused(admin_client):
    """A link needs both ids (the OTLP spec); an empty one is refused, not stored."""
    assert_one_refused(
        admin_client, otlp_span("b", links=[{"traceId": "", "spanId": "a" * 16}]), "not a 32-digit hex id"
    )


def test_a_stored_link_without_a_trace_id_still_renders(admin_client):
    """A span stored before the upload checked links (an empty, a malformed link id, an
    event and attributes that are not mappings) still has its pages."""
    rec = Recorder()
    rec.span("request", service="shop", start=0, ms=5)
    [row] = rec.rows()
    row.links = [{"trace_id": "", "span_id": ""}, {"trace_id": "a/b", "span_id": "x", "attributes": [1]}, 2]
    row.events = [{"name": "exception", "time_ns": "soon", "attributes": {"exception.message": 5}}, 3]
    row.save()
    assert_every_stored_page_renders(admin_client)
    details = admin_client.get(f"/traces/{row.trace_id}/spans/{row.span_id}/").content.decode()
    assert "(no trace id)" in details and "a/b / x" in details


def test_a_number_past_64_bits_is_refused(admin_client):
    """An integer attribute of 2**64 cannot be stored as OTLP's int64: refused."""
    hostile = otlp_span("b", attributes=[attr("n", {"intValue": str(2**64)})])
    assert_one_refused(admin_client, hostile, "does not fit in 64 bits")


def test_a_time_past_64_bits_is_refused_not_a_server_error(admin_client):
    """A start time of 2**64 ns used to fail the whole upload with a 500."""
    hostile = otlp_span("b", startTimeUnixNano=str(2**64), endTimeUnixNano=str(2**64 + 1))
    assert_one_refused(admin_client, hostile, "does not fit in 64 bits")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", float("nan"), float("inf")])
def test_a_nan_or_infinity_is_refused_and_the_report_is_honest(admin_client, value):
    """A NaN used to vanish in the store while the upload said it was stored; now the span
    is refused and the message counts it (as a string or a bare JSON constant)."""
    hostile = otlp_span("b", attributes=[attr("ratio", {"doubleValue": value})])
    assert_one_refused(admin_client, hostile, "not a finite number")


def test_nesting_ten_thousand_levels_deep_is_a_form_error(admin_client):
    """Deeper than the JSON parser goes: the file is refused with a reason, never a 500."""
    content = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "n", "value": '
    content += b'{"arrayValue": {"values": [' * 10_000 + b"{}" + b"]}}" * 10_000 + b"}]}]}]}]}"
    response, said = upload(admin_client, content)
    assert response.url == "/traces/"
    assert said == ["Could not load hostile.json: the JSON is nested too deeply"]
    assert not Span.objects.exists()


def test_a_value_nested_deeper_than_the_bound_is_refused(admin_client):
    """A list inside a list, twenty levels: the span is refused, the others stored."""
    value: dict = {"stringValue": "x"}
    for _ in range(20):
        value = {"arrayValue": {"values": [value]}}
    assert_one_refused(admin_client, otlp_span("b", attributes=[attr("n", value)]), "nested more than 8")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"traceId": "0" * 32}, "all-zero id"),
        ({"spanId": "0" * 16}, "all-zero id"),
        ({"spanId": "abc"}, "not a 16-digit hex id"),
        ({"traceId": "z" * 32}, "not a 32-digit hex id"),
        ({"traceId": 12}, "not a 32-digit hex id"),
        ({"parentSpanId": "xyz"}, "not a 16-digit hex id"),
        ({"links": [{"traceId": "1" * 32, "spanId": "0" * 16}]}, "all-zero id"),
    ],
)
def test_bad_ids_are_refused(admin_client, fields, reason):
    """Trace ids are 32 hex digits, span ids 16, neither all zero; parent ids empty or valid."""
    assert_one_refused(admin_client, otlp_span("b", trace_id=HOSTILE_TRACE, **fields), reason)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"startTimeUnixNano": "5000000", "endTimeUnixNano": "1000000"}, "ends before it starts"),
        ({"startTimeUnixNano": "-5"}, "start time is negative"),
        ({"endTimeUnixNano": "soon"}, "end time is not an integer"),
    ],
)
def test_bad_times_are_refused(admin_client, fields, reason):
    """Times are non-negative 64-bit nanoseconds and a span ends after it starts."""
    assert_one_refused(admin_client, otlp_span("b", **fields), reason)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"attributes": [attr("k" * 256, {"stringValue": "v"})]}, "attribute key"),
        ({"attributes": [attr("k", {"stringValue": "v" * (64 * 1024 + 1)})]}, "longer than"),
        ({"attributes": [attr("k", {"arrayValue": {"values": [{"intValue": "1"}] * 129}})]}, "more than 128"),
        ({"attributes": [attr("k", {"stringValue": "a\u0000b"})]}, "NUL"),
        ({"attributes": [attr("k", {"stringValue": "\ud800"})]}, "not valid Unicode"),
        ({"name": "\ud800"}, "not valid Unicode"),
        ({"attributes": [attr("k", {"stringValue": ["not", "a", "string"]})]}, "not a string"),
        ({"attributes": [attr("k", {"mystery": 1})]}, "unknown type"),
        ({"attributes": [attr("celery.attempt", {"stringValue": "x"})]}, "celery.attempt is not an integer"),
        ({"attributes": "nope"}, "attributes is not a list"),
        ({"events": [{"timeUnixNano": str(2**64)}]}, "event time does not fit"),
        ({"status": {"code": 9}}, "status_code_value"),
    ],
)
def test_attributes_the_store_cannot_keep_as_given_are_refused(admin_client, fields, reason):
    """Keys are strings of up to 255 characters; values bounded strings (valid Unicode, no
    NUL), lists of at most 128 items, known AnyValue types; the diagnosis's numbers are numbers."""
    assert_one_refused(admin_client, otlp_span("b", **fields), reason)


def test_an_exception_event_with_non_text_fields_is_shown(admin_client):
    """An error span whose exception message is a number (valid OTLP) renders its pages."""
    hostile = otlp_span(
        "b",
        status={"code": 2},
        events=[{"name": "exception", "attributes": [attr("exception.message", {"intValue": "5"})]}],
    )
    response, said = upload(admin_client, otlp_file(otlp_span("a"), hostile))
    assert "Loaded hostile.json: 2 spans in 1 trace(s), 2 new." in said
    assert_every_stored_page_renders(admin_client)


@pytest.mark.parametrize(
    "document",
    [
        {"resourceSpans": ["x"]},
        {"resourceSpans": [{"scopeSpans": {"spans": []}}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": "x"}]}]},
        {"resourceSpans": [{"resource": [], "scopeSpans": []}]},
        {"resourceSpans": [{"scopeSpans": [None, 3]}]},
        "resourceSpans",
        [1, 2],
    ],
)
def test_a_malformed_shape_is_a_form_error_naming_the_problem(admin_client, document):
    """Whatever the JSON's shape, the upload answers with a reason, never a 500."""
    response, said = upload(admin_client, json.dumps(document).encode())
    assert response.url == "/traces/"
    [message] = said
    assert message.startswith("Could not load hostile.json: not an OTLP JSON trace document")
    assert not Span.objects.exists()


def test_a_span_that_is_not_an_object_is_refused(admin_client):
    """A span given as a string is refused like any other bad span; the rest is stored."""
    assert_one_refused(admin_client, "not a span", "not an object")  # type: ignore[arg-type]


def test_a_file_over_the_size_limit_is_a_form_error(admin_client):
    """Over 20 MB: refused before it is read."""
    response, said = upload(admin_client, b" " * (20 * 1024 * 1024 + 1))
    assert response.url == "/traces/"
    assert said == ["Choose an OTLP JSON file to load. The file is over 20 MB."]


def test_a_file_of_too_many_spans_is_refused_whole(admin_client, monkeypatch):
    """More spans than the per-file limit (100,000; three here): nothing stored."""
    monkeypatch.setattr("telemetry.viewer.otlp.MAX_SPANS", 3)
    response, said = upload(admin_client, otlp_file(*(otlp_span(digit) for digit in "abcd")))
    assert said == ["Could not load hostile.json: the document holds more than 3 spans"]
    assert not Span.objects.exists()


def test_a_file_of_only_refused_spans_stores_nothing_and_says_why(admin_client):
    """No valid span: back to the search, with the refusals and the reason nothing loaded."""
    response, said = upload(admin_client, otlp_file(otlp_span("b", spanId="0" * 16)))
    assert response.url == "/traces/"
    assert said[0].startswith("Refused 1 of 1 spans in hostile.json: span 0000000000000000: an all-zero id")
    assert said[1] == "Could not load hostile.json: no span could be stored"
    assert not Span.objects.exists()


def test_the_report_names_the_first_five_reasons_only(admin_client):
    """Seven bad spans: all counted, five reasons given."""
    bad = [otlp_span(digit, startTimeUnixNano="-1") for digit in "bcdef12"]
    response, said = upload(admin_client, otlp_file(otlp_span("a"), *bad))
    [refusal] = [text for text in said if text.startswith("Refused")]
    assert refusal.startswith("Refused 7 of 8 spans") and refusal.count("negative") == 5
    assert refusal.endswith(" …")


def test_spans_in_a_parent_loop_are_refused(admin_client):
    """Two spans each the other's parent: no root reaches them, the page could not show
    them, so both are refused; the trace's other span is stored."""
    loop = [
        otlp_span("b", trace_id=GOOD_TRACE, parentSpanId="c" * 16),
        otlp_span("c", trace_id=GOOD_TRACE, parentSpanId="b" * 16),
    ]
    response, said = upload(admin_client, otlp_file(otlp_span("a"), *loop))
    [refusal] = [text for text in said if text.startswith("Refused 2 of 3 spans")]
    assert refusal.count("in a parent loop") == 2
    assert list(Span.objects.values_list("span_id", flat=True)) == ["a" * 16]
    assert_every_stored_page_renders(admin_client)


def test_the_trace_page_says_a_trace_was_cut_short_at_ingest(admin_client, settings):
    """Spans over the store's caps are gone: the page says how many, not a silent gap."""
    from synthetic.builders import TraceBuilder
    from telemetry.store.exporter import store_spans

    settings.TELEMETRY_MAX_CHILDREN_PER_SPAN = 3
    trace = TraceBuilder()
    root = trace.span("GET /", service="shop", start=0, ms=50, kind="SERVER")
    for number in range(8):
        trace.span("SELECT", service="shop", start=number, ms=1, parent=root, kind="CLIENT")
    store_spans(trace.spans)
    page = admin_client.get(f"/traces/{trace.trace_id}/").content.decode()
    assert "5 more spans dropped at ingest" in page


def test_a_large_trace_is_drawn_in_part_with_a_link_that_draws_it_all(admin_client):
    """500 statements under a request, no error: the request opens folded and its subtree
    is one row; unfolding it fetches 100 rows and the row that counts the other 400."""
    from synthetic.builders import flooded
    from telemetry.store.index import save_spans

    trace = flooded(500)
    save_spans(trace.spans)
    root = trace.spans[0].span_id
    page = admin_client.get(f"/traces/{trace.trace_id}/").content.decode()
    assert page.count('class="span-row') == 1 and 'data-partial="true"' in page
    assert f'<tr class="folded-rest" data-parent-id="{root}" data-spans="500" hidden>' in page
    rows = admin_client.get(f"/traces/{trace.trace_id}/rows/", {"under": root}).json()["rows"][root]
    assert rows.count('class="span-row') == 100 and "<table" not in rows
    assert "400 more spans under GET api/shop/products/ not drawn" in rows
    whole = admin_client.get(f"/traces/{trace.trace_id}/?all=1").content.decode()
    assert whole.count('class="span-row') == 501 and "not drawn" not in whole
    assert admin_client.get(f"/traces/{trace.trace_id}/rows/", {"under": "0" * 16}).json() == {"rows": {}}


def test_find_answers_over_every_span_of_a_large_trace(admin_client):
    """The statements folded away are found, with the drawn parents leading to them."""
    from synthetic.builders import flooded
    from telemetry.store.index import save_spans

    trace = flooded(500)
    save_spans(trace.spans)
    found = admin_client.get(f"/traces/{trace.trace_id}/find/", {"q": '"id" = 137'}).json()
    [statement] = [
        span for span in trace.spans if span.attributes.get("db.statement", "").endswith('"id" = 137')
    ]
    assert found["matches"] == [statement.span_id] and found["total"] == 1
    assert found["parents"][statement.span_id] == trace.spans[0].span_id
    assert admin_client.get(f"/traces/{trace.trace_id}/find/", {"q": ""}).json()["total"] == 0


def test_a_20000_span_trace_page_builds_and_sends_only_what_it_draws(admin_client, monkeypatch):
    """Counted, not timed: a request with 20,000 children and a chain 20,000 deep. Rows are
    built for the drawn spans only (at most the 1,500 cap), the HTML stays within a size
    proportional to them, and the tree is asked for a span's children a bounded number of
    times per span (a quadratic walk would ask once per sibling or per ancestor)."""
    from synthetic.builders import deep, flooded, trace_id
    from telemetry.store.index import save_spans
    from telemetry.tree import SpanTree
    from telemetry.viewer import waterfall as waterfall_module

    built: list[int] = []
    original_init = waterfall_module.Row.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(waterfall_module.Row, "__init__", counting_init)
    asked: list[int] = []
    original_children = SpanTree.children

    def counting_children(self, span):
        asked.append(1)
        return original_children(self, span)

    monkeypatch.setattr(SpanTree, "children", counting_children)
    for build, most_rows, most_bytes in ((flooded, 110, 300_000), (deep, 1500, 2_000_000)):
        trace = build(20_000)
        trace.trace_id = trace_id(build.__name__)
        for span in trace.spans:
            span.trace_id = trace.trace_id
        save_spans(trace.spans)
        built.clear()
        asked.clear()
        html = admin_client.get(f"/traces/{trace.trace_id}/").content.decode()
        assert re.search(r"<strong>2000[01]</strong> spans", html), build.__name__
        assert html.count('class="span-row') <= most_rows and len(built) <= most_rows + 1, build.__name__
        assert len(html.encode()) < most_bytes, (build.__name__, len(html.encode()))
        assert len(asked) < 20 * 20_000, (build.__name__, len(asked))


def test_a_trace_of_2000_spans_renders_folded(admin_client):
    """Only the request, its 20 batches and the failing batch's INSERTs are sent; the other
    batches come folded (▸), each with one row that counts its 99 INSERTs, and the page
    says so."""
    from synthetic.builders import bulk_import
    from telemetry.store.index import save_spans

    trace = bulk_import()
    save_spans(trace.spans)
    html = admin_client.get(f"/traces/{trace.trace_id}/").content.decode()
    tags = re.findall(r'<tr class="span-row[^>]*>', html)
    assert len(tags) == 1 + 20 + 99 and not any(tag.endswith(" hidden>") for tag in tags)
    assert sum('data-collapsed="true"' in tag for tag in tags) == 19
    assert html.count('aria-label="expand 99 children"') == 19
    assert html.count('<tr class="folded-rest"') == 19
    assert "19 subtrees folded" in html and "their 1881 spans load when unfolded" in html
    assert 'id="root-cause"' in "".join(tags)


def test_the_trace_page_as_json_lists_its_stored_spans(admin_client, failed):
    """``?format=json``: every stored span with its fields, in start order (the raw JSON link)."""
    html = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    assert 'href="?format=json"' in html
    response = admin_client.get(f"/traces/{failed.trace_id}/?format=json")
    assert response["Content-Type"] == "application/json"
    document = json.loads(response.content)
    stored = Span.objects.filter(trace_id=failed.trace_id).order_by("start_time_ns", "span_id")
    assert document["trace_id"] == failed.trace_id and document["span_count"] == stored.count()
    assert [span["span_id"] for span in document["spans"]] == [span.span_id for span in stored]
    update = next(span for span in document["spans"] if span["span_id"] == confirmation_update(failed, 1))
    assert update["status"] == "ERROR" and update["attributes"]["db.statement"] == UPDATE_CONFIRMATION
    assert update["events"][0]["name"] == "exception"
    assert admin_client.get(f"/traces/{'f' * 32}/?format=json").status_code == 404


def test_the_trace_page_counts_spans_errors_and_self_time_per_service_and_operation(admin_client, failed):
    html = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    panel = html[html.index('id="stats"') : html.index("</details>", html.index('id="stats"'))]
    assert "5 services, " in panel and " spans, 6 errors" in panel
    operations = panel[panel.index('id="stats-operations"') :]
    # Three runs of the finalize task, all three failed.
    finalize = operations[operations.index("run/<wbr>orders.<wbr>finalize_<wbr>order</a></td>") :]
    three_of_three = r'\S+</a></td>\s*<td class="num">3</td><td class="num"><span class="marker err">3<'
    assert re.match(three_of_three, finalize)


def test_the_root_cause_card_shows_the_application_frames_with_library_frames_folded(admin_client, failed):
    """The statement's own stack holds only the database wrapper; the attempt's reaches the
    task and the service function: the card shows those, library frames folded, and keeps
    the span's full stack trace a click away."""
    update = Span.objects.get(trace_id=failed.trace_id, span_id=confirmation_update(failed, 1))
    run = Span.objects.get(trace_id=failed.trace_id, span_id=update.parent_span_id)
    for span, stacktrace in ((update, WRAPPER_ONLY), (run, WRAPPED)):
        for event in span.events:
            if event["name"] == "exception":
                event["attributes"]["exception.stacktrace"] = stacktrace
        span.save()
    html = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    start = html.index('id="root-cause-stack"')
    stack = unescape(html[start : html.index("</pre>", start)])
    assert "orders/tasks.py:73 in finalize_order" in stack
    assert "orders/services.py:166 in _write_confirmation" in stack
    assert "… 3 library frames (django, opentelemetry)" in stack
    assert "full stack trace of this span" in html


# --- The viewer's own layout and empty states ---------------------------------------------


def nav_links(html: str) -> list[str]:
    """The hrefs of the viewer's navigation, in order, without query strings."""
    start = html.index('<nav class="viewer-nav"')
    nav = html[start : html.index("</nav>", start)]
    return [href.split("?")[0] for href in re.findall(r'href="([^"]+)"', nav)]


def test_every_viewer_page_has_the_same_navigation_and_not_the_shops_header(admin_client, failed, confirmed):
    pages = {
        "search": "/traces/",
        "trace": f"/traces/{failed.trace_id}/",
        "compare": f"/traces/compare/?a={failed.trace_id}&b={confirmed.trace_id}",
        "services": "/traces/services/",
        "metrics": "/traces/metrics/",
        "failures": "/traces/failures/",
        "sampling": "/traces/sampling/",
    }
    navigations = {}
    for label, path in pages.items():
        html = admin_client.get(path).content.decode()
        navigations[label] = nav_links(html)
        assert html.count('<nav class="viewer-nav"') == 1, label
        assert 'class="cart-link"' not in html and "Cart" not in html, label
        assert "viewer.css" in html and "shop.css" not in html, label
    assert len({tuple(links) for links in navigations.values()}) == 1
    assert navigations["search"][:6] == [
        "/traces/", "/traces/services/", "/traces/metrics/", "/traces/failures/", "/traces/sampling/",
        "/traces/compare/",
    ]  # fmt: skip


def test_the_current_page_is_marked_in_the_navigation(admin_client):
    html = admin_client.get("/traces/metrics/").content.decode()
    assert re.findall(r'<a href="([^"]+)" class="active" aria-current="page">', html) == ["/traces/metrics/"]


def test_a_search_with_no_match_says_so_and_what_to_try(admin_client, failed):
    html = admin_client.get("/traces/", {"operation": "no-such-operation"}).content.decode()
    assert 'class="trace-row"' not in html
    assert "No trace matches these filters." in html and "reset the filters" in html


def test_an_empty_store_says_how_to_get_traces(admin_client):
    html = admin_client.get("/traces/").content.decode()
    assert "No trace matches." in html and "No traces are stored yet" in html


def test_a_from_after_to_range_is_refused_with_a_message(admin_client, failed):
    response = admin_client.get("/traces/", {"start": "2026-01-02T10:00", "end": "2026-01-02T09:00"})
    html = unescape(response.content.decode())
    assert "'to' (2026-01-02 09:00) is before 'from' (2026-01-02 10:00)" in html
    assert 'class="trace-row"' not in html and 'id="invalid-filters"' in html
    body = admin_client.get(
        "/traces/", {"start": "2026-01-02T10:00", "end": "2026-01-02T09:00", "format": "json"}
    )
    assert body.status_code == 400 and "end" in body.json()["errors"]


def test_the_trace_page_has_a_minimap_and_a_flame_graph_of_its_spans(admin_client, failed):
    """The minimap draws every span's band in service colours with the errors marked; the
    flame graph has one frame per span, each a link to the span, the errors outlined."""
    page = admin_client.get(f"/traces/{failed.trace_id}/").content.decode()
    minimap = between(page, 'id="minimap"', 'id="waterfall-head"')
    assert '<svg id="minimap-svg"' in minimap and 'class="err"' in minimap and 'id="zoom-reset"' in minimap
    flame = between(page, 'id="flame"', "</details>")
    spans = Span.objects.filter(trace_id=failed.trace_id)
    frames = re.findall(r'<a href="#span-([0-9a-f]{16})" class="frame', flame)
    merged = re.search(r"(\d+) spans narrower than a pixel merged", flame)
    assert set(frames) <= {span.span_id for span in spans}
    assert len(frames) + (int(merged.group(1)) if merged else 0) == spans.count()
    assert flame.count('class="frame error"') == spans.filter(status="ERROR").count()
    assert "<kbd>z</kbd>" in between(page, 'id="keys-help"', "</div>")


def test_the_minimap_and_flame_graph_of_a_20000_span_trace_stay_bounded(admin_client):
    """Counted, not timed: 20,000 children merge into "small spans" frames and a chain
    20,000 deep stops at the depth limit; the minimap's rectangles stay under its columns
    times its bands, whatever the span count."""
    from synthetic.builders import deep, flooded, trace_id
    from telemetry.store.index import save_spans
    from telemetry.viewer.overview import FLAME_MAX_DEPTH, FLAME_MAX_FRAMES, MINIMAP_BANDS, MINIMAP_COLUMNS

    for build in (flooded, deep):
        trace = build(20_000)
        trace.trace_id = trace_id(build.__name__)
        for span in trace.spans:
            span.trace_id = trace.trace_id
        save_spans(trace.spans)
        html = admin_client.get(f"/traces/{trace.trace_id}/").content.decode()
        minimap = between(html, 'id="minimap"', 'id="waterfall-head"')
        assert 0 < minimap.count("<rect") <= 2 * MINIMAP_COLUMNS * MINIMAP_BANDS, build.__name__
        assert 'class="err"' in minimap, build.__name__
        flame = between(html, 'id="flame"', "</details>")
        frames = flame.count('class="frame')
        assert 0 < frames <= FLAME_MAX_FRAMES, (build.__name__, frames)
        size = len(flame.encode())
        assert flame.count("<svg") == 1 and size < 600_000, (build.__name__, size)
        if build is flooded:
            assert "small spans" in flame and "spans narrower than a pixel merged" in flame
        else:
            assert flame.count('<a href="#span-') == FLAME_MAX_DEPTH and "deeper spans not drawn" in flame
