"""The trace viewer's pages (telemetry/views.py) as a staff member and as a stranger, on
traces stored through the store's own exporter."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan

from synthetic.builders import UPDATE_CONFIRMATION, Recorder, confirmed_order, failed_order
from telemetry.models import LogRecord, Span, Trace
from telemetry.viewer.otlp import from_otlp, to_otlp
from telemetry.viewer.waterfall import service_colour

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
