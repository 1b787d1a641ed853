"""Trace search and the reads behind the viewer (telemetry/selectors.py), on spans stored
through the store's own exporter."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from synthetic.builders import BASE_NS, MS, Recorder, confirmed_order, failed_order
from telemetry.models import LogRecord, Span
from telemetry.selectors import (
    TraceQuery,
    operation_names,
    service_names,
    similar_traces,
    trace_logs,
    trace_page_spans,
    trace_search,
    trace_search_page,
    trace_spans,
)
from telemetry.store.index import save_spans
from telemetry.viewer.forms import TraceSearchForm

pytestmark = pytest.mark.django_db(databases="__all__")
S = 1_000_000_000
FAILED_ORDER = "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01"
CONFIRMED_ORDER = "5c1d7d8e-2b1a-4d8e-9d7a-1a2b3c4d5e6f"


@pytest.fixture
def traces() -> dict[str, str]:
    """A failed order (1 min after BASE), a confirmed one (2 min) and a lone health check
    (3 min, 5 ms, an error status code as a number)."""
    failed, confirmed, ping = (Recorder(base_ns=BASE_NS + minutes * 60 * S) for minutes in (1, 2, 3))
    failed_order(failed, FAILED_ORDER)
    confirmed_order(confirmed, CONFIRMED_ORDER)
    ping.span(
        "GET health/",
        service="shop",
        start=0,
        ms=5,
        kind=SpanKind.SERVER,
        attributes={"http.route": "health/", "http.status_code": 500},
    )
    for rec in (failed, confirmed, ping):
        rec.store()
    return {"failed": failed.trace_id, "confirmed": confirmed.trace_id, "ping": ping.trace_id}


def found(query: TraceQuery) -> list[str]:
    return [trace.trace_id for trace in trace_search(query)]


def test_without_filters_every_trace_is_found_newest_first(traces):
    """No filter: every stored trace, the one that started last first."""
    assert found(TraceQuery()) == [traces["ping"], traces["confirmed"], traces["failed"]]


def test_by_service_and_by_operation_name(traces):
    """The operation matches part of a span name, in any case; with a service, a span of
    that service must carry it."""
    assert found(TraceQuery(service="payments")) == [traces["confirmed"], traces["failed"]]
    assert found(TraceQuery(operation="COMPENSATE")) == [traces["failed"]]
    assert found(TraceQuery(service="orders-worker", operation="capture")) == []
    assert found(TraceQuery(service="payments", operation="capture")) == [traces["confirmed"]]


def test_errors_only(traces):
    """Only traces with at least one ERROR span."""
    assert found(TraceQuery(errors_only=True)) == [traces["failed"]]


def test_by_duration_in_milliseconds(traces):
    """A trace's duration runs from its first span's start to its last span's end."""
    assert found(TraceQuery(max_duration_ms=10)) == [traces["ping"]]
    assert found(TraceQuery(min_duration_ms=500)) == [traces["failed"]]
    assert found(TraceQuery(min_duration_ms=100, max_duration_ms=500)) == [traces["confirmed"]]


def test_by_when_the_trace_started(traces):
    """A trace is in the range when it started in it, whatever its later spans do."""
    assert found(TraceQuery(start_from_ns=BASE_NS + 90 * S)) == [traces["ping"], traces["confirmed"]]
    assert found(TraceQuery(start_to_ns=BASE_NS + 90 * S)) == [traces["failed"]]
    assert found(TraceQuery(start_from_ns=BASE_NS + 60 * S + 1)) == [traces["ping"], traces["confirmed"]]


def test_by_attribute_with_dots_in_its_key_as_string_or_number(traces):
    """``order.id`` is a string, ``http.status_code`` a number, ``celery.attempt`` too;
    several attribute filters must all hold."""
    assert found(TraceQuery(attributes=(("order.id", FAILED_ORDER),))) == [traces["failed"]]
    assert found(TraceQuery(attributes=(("http.status_code", "500"),))) == [traces["ping"]]
    assert found(TraceQuery(attributes=(("celery.attempt", "2"),))) == [traces["failed"]]
    both = (("http.route", "api/shop/checkout/"), ("order.id", CONFIRMED_ORDER))
    assert found(TraceQuery(attributes=both)) == [traces["confirmed"]]
    assert found(TraceQuery(attributes=(("order.id", "no-such-order"),))) == []


def test_boolean_and_decimal_attribute_values(traces):
    """``true``/``false`` and decimals match the JSON booleans and numbers they spell."""
    rec = Recorder(base_ns=BASE_NS + 10 * 60 * S)
    rec.span("work", service="shop", start=0, ms=1, attributes={"cache.hit": True, "ratio": 0.5})
    rec.store()
    assert found(TraceQuery(attributes=(("cache.hit", "true"), ("ratio", "0.5")))) == [rec.trace_id]
    assert found(TraceQuery(attributes=(("cache.hit", "false"),))) == []


def test_sorted_by_slowest_or_by_most_spans(traces):
    """Slowest first, or the trace with the most spans first."""
    assert found(TraceQuery(sort="slowest")) == [traces["failed"], traces["confirmed"], traces["ping"]]
    assert found(TraceQuery(sort="spans"))[-1] == traces["ping"]


def test_a_page_of_summaries_names_root_operation_services_counts_and_order(traces):
    """Each row of a page: root operation, services, span and error counts, duration, start, order."""
    page = trace_search_page(TraceQuery(sort="slowest"), 1, per_page=2)
    assert page.paginator.count == 3 and page.paginator.num_pages == 2
    failed = page.object_list[0]
    stored = Span.objects.filter(trace_id=traces["failed"])
    assert failed.root_name == "POST api/shop/checkout/"
    assert failed.services == ("inventory", "orders", "orders-worker", "payments", "shop")
    assert failed.span_count == stored.count()
    assert failed.error_count == stored.filter(status="ERROR").count() == 4
    assert failed.order_ids == (FAILED_ORDER,)
    assert failed.duration_ms == pytest.approx(
        (max(s.end_time_ns for s in stored) - min(s.start_time_ns for s in stored)) / MS
    )
    assert failed.started_at.timestamp() == pytest.approx((BASE_NS + 60 * S) / S)
    [last] = trace_search_page(TraceQuery(sort="slowest"), 2, per_page=2).object_list
    assert last.trace_id == traces["ping"]


def test_a_trace_arriving_in_batches_is_summed_and_named_by_its_root_once_it_lands():
    """Spans of one trace stored in several batches (the worker's before the web
    process's root): until the root lands the trace is named by its earliest span; the
    counts, bounds and errors add up to those of the whole trace."""
    rec = Recorder(base_ns=BASE_NS)
    failed_order(rec, FAILED_ORDER)
    rows = rec.rows()
    root = next(row for row in rows if not row.parent_span_id)
    others = sorted((row for row in rows if row is not root), key=lambda row: -row.start_time_ns)
    for batch in (others[: len(others) // 2], others[len(others) // 2 :]):
        save_spans(batch)
        assert save_spans(batch) == 0  # stored once, counted once
    [arriving] = trace_search_page(TraceQuery(), 1).object_list
    assert arriving.root_name == "checkout"
    assert arriving.span_count == len(rows) - 1

    save_spans([root])
    [whole] = trace_search_page(TraceQuery(), 1).object_list
    assert (whole.root_name, whole.span_count) == ("POST api/shop/checkout/", len(rows))
    assert whole.error_count == sum(row.status == "ERROR" for row in rows) > 0
    assert whole.start_ns == min(row.start_time_ns for row in rows) == root.start_time_ns
    assert whole.duration_ns == max(row.end_time_ns for row in rows) - whole.start_ns


def test_search_reads_are_not_traced(traces, spans):
    """The viewer's own queries make no spans, even inside a traced request."""
    with trace.get_tracer(__name__).start_as_current_span("GET traces/"):
        trace_search_page(TraceQuery(attributes=(("order.id", FAILED_ORDER),)), 1)
        service_names()
        operation_names()
        trace_logs(traces["failed"])
        similar_traces("POST api/shop/checkout/", exclude=traces["failed"])
    assert [span.name for span in spans.get_finished_spans()] == ["GET traces/"]


def test_services_operations_and_similar_traces(traces):
    """The filter choices, and other traces of the same root operation to compare with."""
    assert service_names() == ["inventory", "orders", "orders-worker", "payments", "shop"]
    assert "run/orders.compensate_order" in operation_names()
    [other] = similar_traces("POST api/shop/checkout/", exclude=traces["failed"])
    assert other.trace_id == traces["confirmed"]


def test_a_traces_log_records_oldest_first(traces):
    """The log records of one trace only, in the order they were written."""
    for time_ns, message in ((30, "second"), (10, "first")):
        LogRecord.objects.create(
            trace_id=traces["failed"],
            span_id="ab" * 8,
            time_ns=time_ns,
            level="INFO",
            logger="x",
            message=message,
        )
    assert [record.message for record in trace_logs(traces["failed"])] == ["first", "second"]
    assert trace_logs(traces["confirmed"]) == []


def test_the_search_form_turns_the_query_string_into_a_query():
    """A range counts back from now; explicit bounds win; attribute filters repeat."""
    form = TraceSearchForm(
        _query_dict("service=orders&operation=+place+&errors=on&min_ms=5&range=15m&sort=slowest"
                    "&attr=order.id%3Dabc&attr=http.status_code%3D500&attr=")
    )  # fmt: skip
    assert form.is_valid(), form.errors
    query = form.to_query(now_ns=BASE_NS)
    assert query == TraceQuery(
        service="orders",
        operation="place",
        errors_only=True,
        min_duration_ms=5.0,
        start_from_ns=BASE_NS - 15 * 60 * S,
        attributes=(("order.id", "abc"), ("http.status_code", "500")),
        sort="slowest",
    )
    explicit = TraceSearchForm(_query_dict("range=1h&start=2027-01-15T08:00&end=2027-01-15T09:30"))
    assert explicit.is_valid()
    bounds = explicit.to_query(now_ns=BASE_NS)
    assert bounds.start_to_ns is not None and bounds.start_from_ns is not None
    assert (bounds.start_to_ns - bounds.start_from_ns) == 90 * 60 * S


@pytest.mark.parametrize(
    "attr",
    ["order.id", "=x", "key with space=1", "k\u00e9y=1", "k" * 201 + "=1"],
    ids=["no-equals", "no-key", "space", "non-ascii", "key-too-long"],
)
def test_the_search_form_refuses_attribute_filters_that_are_not_key_value(attr):
    """A filter without ``=``, without a key, or with a key outside the documented charset
    (``[A-Za-z0-9_.:-]``, 1 to 200 characters: the index's key column) is refused."""
    form = TraceSearchForm(_query_dict(f"attr={attr}"))
    assert not form.is_valid()
    assert "key=value" in str(form.non_field_errors())


LONG = "x" * 401  # longer than the index keeps: the search reads the spans' JSON instead
# Keys that Django would read as lookups on the JSON column, or as a path into it.
LOOKUP_KEYS = ["regex", "iregex", "contains", "isnull", "in", "gt", "a__b", "__class__", "has_key"]


@pytest.mark.parametrize("key", LOOKUP_KEYS)
def test_attribute_keys_are_data_never_a_lookup(traces, key):
    """A key named like a lookup (``regex``, ``isnull``, ``a__b``) is compared as a key: it
    matches no stored span, runs no user-supplied regular expression over every span and
    raises nothing, whether the value is short (the index) or long (the spans)."""
    pattern = ".*" + "(x|y)?" * 80  # matches any span's JSON, were it run as a regex
    for value in ("1", LONG, pattern):
        assert found(TraceQuery(attributes=((key, value),))) == []


def test_a_key_with_double_underscores_is_found_as_it_is_written(traces):
    """``a__b`` is an attribute named ``a__b`` (not ``a`` nested with ``b``), found by a
    short value through the index and by a long one through the spans."""
    rec = Recorder(base_ns=BASE_NS + 10 * 60 * S)
    rec.span("work", service="shop", start=0, ms=1, attributes={"a__b": "1", "regex": LONG})
    rec.store()
    assert found(TraceQuery(attributes=(("a__b", "1"),))) == [rec.trace_id]
    assert found(TraceQuery(attributes=(("regex", LONG),))) == [rec.trace_id]
    form = TraceSearchForm(_query_dict("attr=a__b%3D1&attr=__class__%3Dx"))
    assert form.is_valid(), form.errors


def _query_dict(text: str):
    from django.http import QueryDict

    return QueryDict(text)


def test_the_trace_pages_read_gives_the_same_spans_and_their_links_when_asked(traces):
    """Built without ``Model.__init__`` and without the links column: equal field by field
    to the ORM's own read, the links read when a span's are asked for."""
    trace_id = Span.objects.filter(order_id=FAILED_ORDER).values_list("trace_id", flat=True).first() or ""
    Span.objects.filter(trace_id=trace_id, parent_span_id="").update(links=[{"trace_id": "a" * 32}])
    full, page = trace_spans(trace_id), trace_page_spans(trace_id)
    assert [span.span_id for span in page] == [span.span_id for span in full] and len(page) > 5
    fields = [field.attname for field in Span._meta.concrete_fields if field.attname != "links"]
    for read, stored in zip(page, full, strict=True):
        assert all(getattr(read, name) == getattr(stored, name) for name in fields)
        assert "links" not in read.__dict__ and read.links == stored.links
