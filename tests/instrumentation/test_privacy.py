"""No personal data in telemetry by default (instrumentation/privacy.py): the allow-list of
span attributes, the client's address and user agent, query string values, secrets in every
string, the size limits; and, in this process, an email, a card token, an Authorization
header and a cookie sent through every entry point end up in no table of the span store."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.db import connections
from django.test import Client
from opentelemetry import trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AnyValue

from instrumentation.context import mark_error
from instrumentation.privacy import (
    REDACTED,
    RedactingLogProcessor,
    RedactingSpanExporter,
    Redactor,
    log_record_limits,
    redact_text,
    redact_url,
    span_limits,
    truncate_address,
)
from instrumentation.statements import _Folded
from telemetry.store.exporter import StoreLogExporter, StoreMetricsExporter, StoreSpanExporter

EMAIL = "privacy.probe@example.com"
CARD_TOKEN = "tok_privacyprobe4242"
BEARER = "Bearer privacy-probe-bearer-7f3a"
COOKIE = "sessionid=privacyprobecookie9c1; theme=privacyprobetheme"
# What must not appear anywhere: each secret's distinctive part (an email also travels
# percent-encoded, "privacy.probe%40example.com").
NEEDLES = (
    "privacy.probe",
    "privacyprobe4242",
    "privacy-probe-bearer",
    "privacyprobecookie",
    "privacyprobetheme",
)

log = logging.getLogger("tests.instrumentation.privacy")


def leaks(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


# --- The text patterns ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"no customer {EMAIL}",
        "no customer privacy.probe%40example.com",
        f"paid with {CARD_TOKEN}",
        f"header {BEARER}",
        f"Authorization: {BEARER}",
        "{'authorization': 'Basic cHJpdmFjeS1wcm9iZS1iZWFyZXI='}",
        f"Cookie: {COOKIE}",
        f"cookies were {COOKIE}",
    ],
)
def test_secrets_are_replaced_in_free_text(text):
    redacted = redact_text(text)
    assert not leaks(redacted) and "cHJpdmFjeS1wcm9iZS1iZWFyZXI" not in redacted
    assert REDACTED in redacted


def test_card_numbers_are_replaced_but_other_long_numbers_are_not():
    assert redact_text("card 4242 4242 4242 4242 declined") == f"card {REDACTED} declined"
    # Not Luhn-valid: a nanosecond timestamp, an amount.
    assert redact_text("at 1733150000000000001 ns") == "at 1733150000000000001 ns"


def test_a_luhn_valid_digit_run_inside_an_id_is_no_card():
    # A trace id whose first 16 hex digits are decimal and Luhn-valid, and an order UUID:
    # log lines carry both, and a redacted id could no longer be followed to its trace.
    trace_id = "4242424242424242abcdef0123456789"
    assert redact_text(f"trace_id={trace_id} failed") == f"trace_id={trace_id} failed"
    order = "e4242424242424242-0000"
    assert redact_text(f"order {order}") == f"order {order}"


def test_text_without_secrets_is_left_as_it_is():
    text = 'SELECT "orders_order"."id" FROM "orders_order" WHERE "orders_order"."email" LIKE %s'
    assert redact_text(text) == text
    assert redact_text("POST api/shop/checkout/") == "POST api/shop/checkout/"


def test_query_values_are_redacted_except_allow_listed_keys():
    url = f"http://shop.test/admin/orders/order/?q={EMAIL}&p=2&o=-1#top"
    assert (
        redact_url(url, frozenset({"p", "o"}))
        == f"http://shop.test/admin/orders/order/?q={REDACTED}&p=2&o=-1#{REDACTED}"
    )


def test_an_email_in_the_path_is_redacted_too():
    assert redact_url(f"/cart/add/{EMAIL}/", frozenset()) == f"/cart/add/{REDACTED}/"


@pytest.mark.parametrize(
    ("address", "network"),
    [("203.0.113.77", "203.0.113.0"), ("2001:db8:1234:5678::1", "2001:db8:1234::"), ("not-an-ip", "")],
)
def test_addresses_are_truncated_to_their_network(address, network):
    assert truncate_address(address) == network


# --- The span attributes --------------------------------------------------------------

SERVER_ATTRIBUTES: dict[str, AnyValue] = {
    "http.method": "GET",
    "http.route": "admin/orders/order/",
    "http.target": f"/admin/orders/order/?q={EMAIL}",
    "http.url": f"http://127.0.0.1/admin/orders/order/?q={EMAIL}&p=2",
    "http.status_code": 200,
    "net.peer.ip": "203.0.113.77",
    "net.peer.port": 51234,
    "http.user_agent": f"curl/8 ({EMAIL})",
    "http.request.header.authorization": (BEARER,),
    "customer.email": EMAIL,
    "threadline.service": "shop",
    "order.id": "7b0c",
}


def test_server_attributes_by_default():
    kept = Redactor.build(query_keys=("p",)).span_attributes(SERVER_ATTRIBUTES, SpanKind.SERVER)
    assert kept == {
        "http.method": "GET",
        "http.route": "admin/orders/order/",
        "http.target": f"/admin/orders/order/?q={REDACTED}",
        "http.url": f"http://127.0.0.1/admin/orders/order/?q={REDACTED}&p=2",
        "http.status_code": 200,
        "threadline.service": "shop",
        "order.id": "7b0c",
    }


def test_client_address_and_user_agent_are_opt_in():
    truncated = Redactor.build(client_address="truncated", user_agent=True)
    kept = truncated.span_attributes(SERVER_ATTRIBUTES, SpanKind.SERVER)
    assert kept["net.peer.ip"] == "203.0.113.0" and "net.peer.port" not in kept
    assert kept["http.user_agent"] == f"curl/8 ({REDACTED})"
    full = Redactor.build(client_address="full").span_attributes(SERVER_ATTRIBUTES, SpanKind.SERVER)
    assert (full["net.peer.ip"], full["net.peer.port"]) == ("203.0.113.77", 51234)


def test_a_client_span_keeps_the_address_it_called():
    kept = Redactor.build().span_attributes(
        {"net.peer.name": "127.0.0.1", "net.peer.port": 8000}, SpanKind.CLIENT
    )
    assert kept == {"net.peer.name": "127.0.0.1", "net.peer.port": 8000}


def test_extra_attributes_extend_the_allow_list_and_are_still_cleaned():
    redactor = Redactor.build(extra_attributes=("http.request.header.*", "customer.email"))
    kept = redactor.span_attributes(SERVER_ATTRIBUTES, SpanKind.SERVER)
    assert kept["http.request.header.authorization"] == (REDACTED,)
    assert kept["customer.email"] == REDACTED


def test_the_statements_folded_into_a_span_pass_as_they_are():
    """The summary ExportFilter puts on a parent (count, time, the statement repeated most,
    the tables written) is what the N+1 diagnosis and the trace read of fast statements: it
    must reach the store."""
    folded = _Folded()
    for _ in range(8):
        folded.add('SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."id" = ?', 1_000_000)
    folded.add('INSERT INTO "orders_orderevent" ("kind") VALUES (?)', 1_000_000)
    summary = folded.attributes()
    assert Redactor.build().span_attributes(summary, SpanKind.SERVER) == summary


def test_an_unknown_client_address_mode_is_refused():
    with pytest.raises(ValueError, match="TELEMETRY_CLIENT_ADDRESS"):
        Redactor.build(client_address="yes")


def test_a_span_copy_is_redacted_everywhere_and_counts_what_it_dropped():
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(memory, Redactor.build())))
    with provider.get_tracer(__name__).start_as_current_span(f"lookup {EMAIL}", kind=SpanKind.SERVER) as span:
        span.set_attributes({"customer.email": EMAIL, "order.id": "7b0c"})
        span.add_event("note", {"detail": f"token {CARD_TOKEN}"})
        span.add_link(trace.INVALID_SPAN_CONTEXT, {"why": f"called with {BEARER}"})
        span.record_exception(ValueError(f"no customer {EMAIL}"))
        span.set_status(Status(StatusCode.ERROR, f"ValueError: no customer {EMAIL}"))
    (exported,) = memory.get_finished_spans()
    text = repr((exported.name, exported.attributes, exported.status.description))
    text += repr([(event.name, event.attributes) for event in exported.events])
    text += repr([link.attributes for link in exported.links])
    assert not leaks(text)
    assert (exported.events[1].attributes or {})["exception.type"] == "ValueError"
    assert exported.attributes == {"order.id": "7b0c"} and exported.dropped_attributes == 1


def test_a_metric_rows_copy_holds_the_spans_identity_alone_its_name_redacted():
    """The metric rows keep ids, name, app, kind, times and status: their copy carries only
    those (no attributes but the app, no events, no links), and the name is redacted."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    exporter = RedactingSpanExporter(memory, Redactor.build(), identity_only=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer(__name__).start_as_current_span(f"lookup {EMAIL}", kind=SpanKind.SERVER) as span:
        span.set_attributes({"threadline.service": "shop", "customer.email": EMAIL, "order.id": "7b0c"})
        span.add_event("note", {"detail": f"token {CARD_TOKEN}"})
        span.set_status(Status(StatusCode.ERROR, f"ValueError: no customer {EMAIL}"))
    (exported,) = memory.get_finished_spans()
    assert not leaks(repr((exported.name, exported.attributes, exported.status.description)))
    assert exported.attributes == {"threadline.service": "shop"}
    assert not exported.events and not exported.links
    assert (exported.kind, exported.status.status_code) == (SpanKind.SERVER, StatusCode.ERROR)
    assert exported.context == span.get_span_context() and exported.end_time is not None


# --- The size limits ------------------------------------------------------------------


def test_limits_have_defaults_and_follow_the_standard_variables(settings):
    limits = span_limits()
    assert limits.max_span_attribute_length == settings.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT == 4096
    assert limits.max_events == settings.OTEL_SPAN_EVENT_COUNT_LIMIT
    # Log attributes are cut by RedactingLogProcessor, which keeps a stack trace's end.
    assert log_record_limits().max_log_record_attribute_length is None
    settings.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT = None  # "unset"
    assert span_limits().max_span_attribute_length is None


def test_the_process_provider_cuts_long_values(spans):
    with trace.get_tracer(__name__).start_as_current_span("big") as span:
        span.set_attribute("db.statement", "x" * 1_000_000)
        span.record_exception(ValueError("y" * 1_000_000))
    (exported,) = spans.get_finished_spans()
    assert len(exported.attributes["db.statement"]) == 4096
    assert len(exported.events[0].attributes["exception.message"]) == 4096


def raise_from_deep(depth: int) -> None:
    """Two functions calling each other: frames Python's traceback does not fold."""
    if depth == 0:
        raise LookupError("the frame that raised")
    _and_back(depth - 1)


def _and_back(depth: int) -> None:
    raise_from_deep(depth)


def test_a_long_stack_trace_keeps_its_end_the_frame_that_raised(spans):
    """Cut from the end, as the SDK would, a trace longer than the limit loses the frame
    that raised and the exception's own line: the part a reader needs."""
    with trace.get_tracer(__name__).start_as_current_span("deep") as span:
        try:
            raise_from_deep(200)  # ~20,000 characters of frames
        except LookupError as exc:
            span.record_exception(exc)
    (exported,) = spans.get_finished_spans()
    stacktrace = exported.events[0].attributes["exception.stacktrace"]
    assert len(stacktrace) == 4096 and stacktrace.startswith("…")
    assert stacktrace.rstrip().endswith("LookupError: the frame that raised")


def test_a_logged_exception_keeps_its_end_too():
    redactor = Redactor.build(max_text_length=100)
    processor = RedactingLogProcessor(redactor)

    class Record:
        body = "failed"
        attributes = {"exception.stacktrace": "x" * 500 + "LookupError: the end", "note": "y" * 500}

    processor.on_emit(type("Data", (), {"log_record": Record})())
    assert Record.attributes["exception.stacktrace"].endswith("LookupError: the end")
    assert len(Record.attributes["exception.stacktrace"]) == 100
    assert Record.attributes["note"] == "y" * 100


# --- Log records ----------------------------------------------------------------------


class Tap(LogRecordProcessor):
    """Added once to the process's logger provider (processors cannot be removed), after
    the redaction; hands records to ``inner`` while a test has set one."""

    inner: LogRecordProcessor | None = None

    def on_emit(self, log_record) -> None:
        if self.inner is not None:
            self.inner.on_emit(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


TAP = Tap()


@pytest.fixture
def tap():
    provider = get_logger_provider()
    assert isinstance(provider, LoggerProvider)
    if TAP not in provider._multi_log_record_processor._log_record_processors:
        provider.add_log_record_processor(TAP)
    yield TAP
    TAP.inner = None


def test_log_records_are_redacted_and_cut_before_any_exporter(tap):
    memory = InMemoryLogRecordExporter()
    tap.inner = SimpleLogRecordProcessor(memory)
    with trace.get_tracer(__name__).start_as_current_span("logging"):
        log.warning("no customer %s paying with %s", EMAIL, CARD_TOKEN, extra={"header": BEARER})
        # As Celery logs a failed task: its arguments in a mapping.
        log.error("task failed", extra={"data": {"kwargs": {"order_id": EMAIL}, "args": [CARD_TOKEN]}})
        try:
            raise ValueError(f"cookie was {COOKIE}")
        except ValueError:
            log.exception("failed for %s", EMAIL)
        log.warning("z" * 1_000_000)
    records = [item.log_record for item in memory.get_finished_logs()]
    assert not leaks(repr([(record.body, dict(record.attributes or {})) for record in records]))
    assert len(str(records[-1].body)) == 4096


# --- Every entry point, in this process, into every table of the span store ------------


def store(spans: InMemorySpanExporter) -> None:
    finished = spans.get_finished_spans()
    StoreSpanExporter().export(finished)
    StoreMetricsExporter().export(finished)


def telemetry_text(alias: str = "telemetry") -> dict[str, str]:
    """Every text-like column of every table of a database, as one string per table."""
    connection = connections[alias]
    found: dict[str, str] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [
                column.name for column in connection.introspection.get_table_description(cursor, table)
            ]
            quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608 (introspected names)
            found[table] = "\n".join(repr(row) for row in cursor.fetchall())
    return found


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_no_secret_sent_through_any_entry_point_is_stored(
    services_url, catalogue, spans, tap, admin_user, settings
):
    """A shopper, a caller of the internal APIs and a staff member send an email, a card
    token, an Authorization header and a cookie everywhere they can; the span store's
    tables hold none of them (the order's email is in the shop's orders table: not telemetry)."""
    tap.inner = SimpleLogRecordProcessor(StoreLogExporter())
    secrets = {"Authorization": BEARER, "Cookie": COOKIE, "User-Agent": f"probe ({EMAIL})"}
    shopper = Client(headers=secrets)
    shopper.get(f"/?q={EMAIL}&token={CARD_TOKEN}")
    shopper.post(f"/cart/add/{EMAIL}/")
    body = {
        "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}],
        "email": EMAIL,
        "payment": {"method": "card", "token": CARD_TOKEN},
    }
    placed = shopper.post(
        f"/api/shop/checkout/?email={EMAIL}&token={CARD_TOKEN}",
        body,
        content_type="application/json",
        headers={"Idempotency-Key": f"{EMAIL}-{uuid.uuid4().hex[:6]}"},
    )
    assert placed.status_code in (201, 202), placed.content
    order_id = placed.json()["order_id"]
    # A checkout that fails on the email it was given as a SKU (its message names it).
    unknown = dict(body, items=[{"sku": EMAIL, "quantity": 1}])
    shopper.post("/api/shop/checkout/", unknown, content_type="application/json")
    shopper.get(f"/api/shop/orders/{order_id}/?email={EMAIL}")
    internal = Client(headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}", "Cookie": COOKIE})
    internal.get(f"/api/orders/{order_id}/?email={EMAIL}")
    internal.get(f"/api/inventory/stock/?sku={EMAIL}&token={CARD_TOKEN}")
    staff = Client(headers=secrets)
    staff.force_login(admin_user)
    staff.get(f"/admin/orders/order/?q={EMAIL}")
    staff.get(f"/admin/shop/customer/?q={EMAIL}")
    staff.get(f"/traces/?attributes=customer.email%3D{EMAIL}")
    # A failure whose exception names the customer, recorded on a span.
    with trace.get_tracer(__name__).start_as_current_span("refund"):
        mark_error(ValueError(f"no refund for {EMAIL}, card {CARD_TOKEN}, {BEARER}, {COOKIE}"))
        log.error("refund failed for %s", EMAIL)

    assert len(spans.get_finished_spans()) > 20  # the requests above were traced
    store(spans)
    tables = telemetry_text()
    assert {
        "telemetry_span",
        "telemetry_logrecord",
        "telemetry_traceattribute",
        "telemetry_spanmetric",
    } <= set(tables)
    assert {table: leaks(text) for table, text in tables.items() if leaks(text)} == {}
    # The redaction left a mark, so the test did reach the stored rows.
    assert REDACTED in tables["telemetry_span"] and REDACTED in tables["telemetry_logrecord"]
