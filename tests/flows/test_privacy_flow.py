"""No personal data in telemetry, as processes: a server, a worker and an OTLP endpoint (a
small HTTP sink in this test that keeps the protobuf bodies it is sent). An email, a card
token, an Authorization header and a cookie go through every entry point; afterwards no
table of the span store, no telemetry-ish table of the shop's database, nothing sent
over OTLP and no line the server and the worker printed (their logs, what container log
collection would ship) holds any of them."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dj_database_url
import pytest
import requests
from django.db.utils import ConnectionHandler
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from instrumentation import names
from tests.flows.conftest import Stack, running_stack

pytestmark = pytest.mark.flow

EMAIL = "flow.privacy.probe@example.com"
CARD_TOKEN = "tok_flowprivacyprobe4242"
BEARER = "Bearer flow-privacy-probe-bearer-7f3a"
COOKIE = "sessionid=flowprivacyprobecookie9c1; theme=flowprivacyprobetheme"
SECRETS = {"Authorization": BEARER, "Cookie": COOKIE, "User-Agent": f"probe ({EMAIL})"}
NEEDLES = (
    "flow.privacy.probe",
    "flowprivacyprobe4242",
    "flow-privacy-probe-bearer",
    "flowprivacyprobecookie",
    "flowprivacyprobetheme",
)
# The shop's own records of a customer, which are not telemetry: the order and the customer
# hold the email, the idempotency record the key the client chose (here, one naming them),
# the session the staff member's login.
BUSINESS_TABLES = {"orders_order", "shop_customer", "shop_idempotentrequest", "django_session"}
PASSWORD = "flow-privacy-staff-password"


def leaks(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


def leaking_rows(tables: dict[str, str]) -> dict[str, list[str]]:
    """The rows (one per line) of each table that hold a secret, for the failure message."""
    return {
        table: [row[:400] for row in text.splitlines() if leaks(row)]
        for table, text in tables.items()
        if leaks(text)
    }


class Sink(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint that answers 200 and keeps every body, decoded to text."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.bodies: list[tuple[str, str]] = []  # (path, decoded text)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def text(self, path: str) -> str:
        return "\n".join(text for where, text in list(self.bodies) if where == path)


class _SinkHandler(BaseHTTPRequestHandler):
    server: Sink
    MESSAGES = {"/v1/traces": ExportTraceServiceRequest, "/v1/metrics": ExportMetricsServiceRequest}

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message_class = self.MESSAGES.get(self.path)
        text = ""
        if message_class is not None:
            message = message_class()
            message.ParseFromString(body)
            text = str(message)  # the text format: every string the message holds
        self.server.bodies.append((self.path, text + body.decode("latin-1")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, sink) -> Iterator[Stack]:
    """A stack whose processes export over OTLP to ``sink`` as well as into the store."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    with running_stack(tmp_path_factory.mktemp("privacy"), **env) as stack:
        stack.manage("createsuperuser", "--no-input", "--username", "staff", "--email", "staff@example.test")
        yield stack


def table_text(url: str) -> dict[str, str]:
    """Every column of every table of the database at ``url``, one string per table, found
    through Django's connection introspection (SQLite or PostgreSQL alike)."""
    handler = ConnectionHandler({"default": dj_database_url.parse(url)})
    connection = handler["default"]
    found: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                columns = connection.introspection.get_table_description(cursor, table)
                quoted = ", ".join(connection.ops.quote_name(column.name) for column in columns)
                cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608 (introspected)
                found[table] = "\n".join(repr(row) for row in cursor.fetchall())
    finally:
        handler.close_all()
    return found


def staff_session(stack: Stack) -> requests.Session:
    session = requests.Session()
    session.headers.update(SECRETS)
    login = f"{stack.url}/admin/login/"
    session.get(login, timeout=10)
    session.headers["Cookie"] = f"{COOKIE}; csrftoken={session.cookies['csrftoken']}"
    answer = session.post(
        login,
        data={
            "username": "staff",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=10,
    )
    assert answer.ok and "/admin/login/" not in answer.url, answer.text[:300]
    session.headers["Cookie"] = "; ".join(
        [COOKIE, *(f"{name}={value}" for name, value in session.cookies.items())]
    )
    return session


def send_everywhere(stack: Stack) -> str:
    """Every entry point, with the secrets in the headers, the query strings and the bodies;
    returns the order placed."""
    url = stack.url
    requests.get(f"{url}/?q={EMAIL}&token={CARD_TOKEN}", headers=SECRETS, timeout=10)
    requests.post(f"{url}/cart/add/{EMAIL}/", headers=SECRETS, timeout=10)
    body = {
        "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}],
        "email": EMAIL,
        "payment": {"method": "card", "token": CARD_TOKEN},
    }
    key = {"Idempotency-Key": f"{EMAIL}-{uuid.uuid4().hex[:6]}"}
    placed = requests.post(
        f"{url}/api/shop/checkout/?email={EMAIL}&token={CARD_TOKEN}",
        json=body,
        headers={**SECRETS, **key},
        timeout=30,
    )
    assert placed.status_code in (201, 202), placed.text
    order_id = placed.json()["order_id"]
    # A checkout that fails on the email given as a SKU: the refusal's message names it.
    unknown = dict(body, items=[{"sku": EMAIL, "quantity": 1}])
    requests.post(f"{url}/api/shop/checkout/", json=unknown, headers=SECRETS, timeout=30)
    requests.get(f"{url}/api/shop/orders/{order_id}/?email={EMAIL}", headers=SECRETS, timeout=10)
    cookies = {"sessionid": "flowprivacyprobecookie9c1"}
    stack.internal("GET", f"/api/orders/{order_id}/?email={EMAIL}", cookies=cookies)
    stack.internal("GET", f"/api/inventory/stock/?sku={EMAIL}&token={CARD_TOKEN}")
    requests.get(f"{url}/api/orders/{order_id}/?email={EMAIL}", headers=SECRETS, timeout=10)  # refused
    staff = staff_session(stack)
    assert staff.get(f"{url}/admin/orders/order/?q={EMAIL}", timeout=10).ok
    assert staff.get(f"{url}/admin/shop/customer/?q={EMAIL}", timeout=10).ok
    staff.get(f"{url}/traces/?attributes=customer.email%3D{EMAIL}", timeout=10)
    # A task that fails on a value naming the customer: its failure is logged with it.
    stack.send_task(names.FINALIZE_ORDER_TASK, order_id=EMAIL)
    return order_id


def test_no_secret_reaches_the_store_or_otlp(exported: Stack, sink: Sink, django_db_blocker):
    order_id = send_everywhere(exported)
    exported.wait_for_status(order_id, {"confirmed"})
    worker_log = exported.log_path("worker")
    deadline = time.monotonic() + 30
    while "failed for order" not in worker_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    # Stopped, the processes flush what their batch processors and metric readers hold.
    exported.stop()
    with django_db_blocker.unblock():  # the stack's databases, not the test database
        store = table_text(exported.env["TELEMETRY_DATABASE_URL"])
        shop = table_text(exported.env["DATABASE_URL"])

    assert exported.trace(order_id), "the order's trace was stored"
    assert "admin/shop/customer" in store["telemetry_span"], "the last request was stored"
    assert leaking_rows(store) == {}
    telemetry_ish = {table: text for table, text in shop.items() if table not in BUSINESS_TABLES}
    assert leaking_rows(telemetry_ish) == {}
    assert leaks(shop["orders_order"]), "the order keeps its email: the probe did get through"

    printed = {name: exported.log_path(name).read_text() for name in ("web", "worker")}
    assert "[redacted]" in printed["worker"], "the failing task's line was printed, redacted"
    assert leaking_rows(printed) == {}

    spans, metrics = sink.text("/v1/traces"), sink.text("/v1/metrics")
    assert "admin/shop/customer" in spans and "threadline.calls" in metrics, "OTLP was exported"
    assert leaks(spans) == [] and leaks(metrics) == []
    assert "[redacted]" in spans and "[redacted]" in store["telemetry_logrecord"]
