"""The driver: seeded baskets, status polls that record no trace and read few orders a
round, and one real run
against a live server whose orders never finish, which must be flagged stuck."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.api import ServiceUnavailable
from shop.demo import CATALOGUE
from simulator import driver
from simulator.driver import (
    MAX_POLL_INTERVAL,
    POLL_INTERVAL,
    Attempt,
    RunConfig,
    StatusPoller,
    make_baskets,
    run,
    untraced_headers,
)
from simulator.report import build_report, render


def test_baskets_hold_one_to_three_different_skus_of_one_or_two_units():
    """Every basket has 1-3 lines, no SKU twice, 1-2 units a line, SKUs from the catalogue."""
    skus = [sku for sku, *_ in CATALOGUE]
    for basket in make_baskets(skus, 500, seed=3):
        assert 1 <= len(basket) <= 3
        assert len({line.sku for line in basket}) == len(basket)
        assert all(line.sku in skus and line.quantity in (1, 2) for line in basket)


def test_the_same_seed_gives_the_same_baskets_whatever_the_catalogue_order():
    """A seed reproduces the baskets (the catalogue is sorted first); another seed gives others."""
    skus = [sku for sku, *_ in CATALOGUE]
    first = make_baskets(skus, 50, seed=7)
    assert make_baskets(list(reversed(skus)), 50, seed=7) == first
    assert make_baskets(skus, 50, seed=8) != first


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_run_whose_orders_never_finish_reports_them_stuck(services_url, catalogue):
    """Against a live server with no worker (tasks go to an in-memory broker) the orders stay
    placed: the run must say so, FAIL the terminal and money checks, and lose nothing."""
    config = RunConfig(url=services_url, orders=4, concurrency=2, timeout=0.5, seed=5, progress=False)
    report = build_report(config, run(config))
    checks = {check.name: check for check in report.checks}
    assert report.answers == {"202": 4}
    assert len(report.stuck) == 4 and {row.status for row in report.stuck} == {"placed"}
    assert all(row.trace_id for row in report.stuck)
    assert not checks["every order terminal"].passed
    assert not checks["nothing left reserved"].passed
    assert not checks["authorisations = captures + voids + refunds"].passed  # 4 still authorised
    assert checks["no order lost"].passed and checks["stock conserved"].passed
    assert not report.passed
    assert "FAIL every order terminal: 0 of 4 orders" in render(report)


def test_status_polls_carry_an_unsampled_trace_context():
    """The shop's parent-based sampler honours the flag: a poll records no spans."""
    first, second = untraced_headers(), untraced_headers()
    context = get_current_span(TraceContextTextMapPropagator().extract(first)).get_span_context()
    assert context.is_valid and context.is_remote
    assert not context.trace_flags.sampled
    assert first != second  # a trace id of its own per poll


def _open_orders(count: int) -> list[Attempt]:
    return [Attempt(index, (), order_id=f"order-{index}", status="placed") for index in range(count)]


def _worker_confirms(finished: set[int], reads: list[int]):
    """A status read as the shop would answer it: the orders in ``finished`` are confirmed."""

    def read(batch: list[Attempt]) -> None:
        for attempt in batch:
            reads.append(attempt.index)
            if attempt.index in finished:
                attempt.status = "confirmed"

    return read


def test_a_poll_round_reads_the_oldest_orders_until_a_batch_has_none_finished():
    """100 open orders, the oldest 10 confirmed: a round of batches of 4 reads 16 (the three
    batches with confirmations and the first batch without), not all 100."""
    poller, reads = StatusPoller(_open_orders(100), batch=4), list[int]()
    assert poller.poll(_worker_confirms(set(range(10)), reads)) == 10
    assert reads == list(range(16))
    assert len(poller.pending) == 90 and poller.interval == POLL_INTERVAL


def test_poll_rounds_without_progress_back_off_and_move_past_slow_orders():
    """Orders 0-3 stay open (retrying) while the younger ones are done: a round that finds
    nothing doubles the pause and the next round starts past them, so the rest are seen."""
    poller, reads = StatusPoller(_open_orders(12), batch=4), list[int]()
    read = _worker_confirms(set(range(4, 12)), reads)
    assert poller.poll(read) == 0
    assert reads == [0, 1, 2, 3] and poller.interval == 2 * POLL_INTERVAL
    assert poller.poll(read) == 8
    assert [attempt.index for attempt in poller.pending] == [0, 1, 2, 3]
    for _ in range(6):  # nothing more finishes: the pause grows to its cap
        poller.poll(read)
    assert poller.interval == MAX_POLL_INTERVAL


class _Flaky:
    """A checkout endpoint on a real socket: drops the first connection without an answer
    (the web process died), holds the key once (409 in progress), then answers 202; it
    records the Idempotency-Key of each request."""

    def __init__(self) -> None:
        keys: list[str] = []
        self.keys = keys

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers["Content-Length"]))
                keys.append(self.headers["Idempotency-Key"])
                if len(keys) == 1:
                    self.close_connection = True
                    self.connection.shutdown(2)  # no status line at all
                    return
                held = len(keys) == 2
                body = (
                    {"code": "idempotency_request_in_progress", "message": "still running"}
                    if held
                    else {"order_id": "o-1", "status_url": "/o-1", "status": "placed"}
                )
                data = json.dumps(body).encode()
                self.send_response(409 if held else 202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_checkout_without_an_answer_is_retried_with_the_same_key_until_answered(monkeypatch):
    monkeypatch.setattr(driver, "RETRY_PAUSE", 0.01)
    flaky = _Flaky()
    try:
        attempt = Attempt(0, make_baskets(["MOUSE-WIRELESS"], 1, seed=1)[0])
        driver.checkout(driver._Http(), flaky.url, attempt, retry_for=30)
    finally:
        flaky.server.shutdown()
    assert (attempt.http_status, attempt.order_id, attempt.error) == (202, "o-1", "")
    assert attempt.retries == 2 and flaky.keys == [attempt.key] * 3


def test_without_retry_a_checkout_without_an_answer_is_an_error():
    flaky = _Flaky()
    try:
        attempt = Attempt(0, make_baskets(["MOUSE-WIRELESS"], 1, seed=1)[0])
        driver.checkout(driver._Http(), flaky.url, attempt)
    finally:
        flaky.server.shutdown()
    assert attempt.http_status is None and attempt.error.startswith("ConnectionError")
    assert attempt.retries == 0 and len(flaky.keys) == 1


class _Restarting:
    """A read endpoint on a real socket whose database is restarting: the first
    ``unavailable`` GETs answer 503 with Retry-After (as the shop's middleware does), then
    200 with ``body``."""

    def __init__(self, body: object, *, unavailable: int = 2, status: int = 200) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.command == "POST":
                    self.rfile.read(int(self.headers["Content-Length"]))
                paths.append(self.path)
                down = len(paths) <= unavailable
                data = json.dumps({"code": "service_unavailable"} if down else body).encode()
                self.send_response(503 if down else status)
                if down:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET  # noqa: N815 - the stdlib's name

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_checkout_answered_503_is_retried_with_the_same_key_and_gets_its_order():
    """The database crashed after the order was placed, before the answer: the 503 says
    retry, and the retry with the same key names the order."""
    shop = _Restarting({"order_id": "o-1", "status_url": "/o-1", "status": "placed"}, status=202)
    try:
        attempt = Attempt(0, make_baskets(["MOUSE-WIRELESS"], 1, seed=1)[0])
        driver.checkout(driver._Http(), shop.url, attempt, retry_for=30)
    finally:
        shop.server.shutdown()
    assert (attempt.http_status, attempt.order_id, attempt.retries) == (202, "o-1", 2)


def test_without_retry_a_checkout_answered_503_is_an_error():
    shop = _Restarting({})
    try:
        attempt = Attempt(0, make_baskets(["MOUSE-WIRELESS"], 1, seed=1)[0])
        driver.checkout(driver._Http(), shop.url, attempt)
    finally:
        shop.server.shutdown()
    assert (attempt.http_status, attempt.code, attempt.retries) == (503, "service_unavailable", 0)


def test_a_catalogue_read_answered_503_is_read_again_until_the_shop_answers():
    """The catalogue read while the database restarts (503 + Retry-After) does not end the
    run: it is read again, and the third answer is the catalogue."""
    shop = _Restarting([{"sku": "MOUSE-WIRELESS"}])
    try:
        assert driver._catalogue(driver._Http(), shop.url) == ["MOUSE-WIRELESS"]
    finally:
        shop.server.shutdown()
    assert shop.paths == ["/api/shop/products/"] * 3


def test_a_read_answered_503_past_its_time_returns_the_503(monkeypatch):
    """Bounded: once READ_RETRY_FOR is spent, the 503 is the answer."""
    monkeypatch.setattr(driver, "READ_RETRY_FOR", 0.0)
    shop = _Restarting([])
    try:
        assert driver.read(driver._Http(), f"{shop.url}/api/shop/products/").status_code == 503
    finally:
        shop.server.shutdown()
    assert len(shop.paths) == 1


def test_a_status_poll_answered_503_is_read_again():
    order = {"status": "confirmed", "reason": "", "trace_id": "t-1", "total_cents": 1999, "events": []}
    shop = _Restarting(order)
    attempt = Attempt(0, (), order_id="o-1", status_url=f"{shop.url}/api/shop/orders/o-1/", status="placed")
    try:
        driver.read_status(driver._Http(), shop.url, attempt)
    finally:
        shop.server.shutdown()
    assert (attempt.status, attempt.readable, attempt.total_cents) == ("confirmed", True, 1999)
    assert len(shop.paths) == 3


def test_a_client_read_that_meets_service_unavailable_is_tried_again_for_a_bounded_time(monkeypatch):
    monkeypatch.setattr(driver, "RETRY_PAUSE", 0.01)
    calls: list[int] = []

    def stock_list() -> list[str]:
        calls.append(1)
        if len(calls) <= 2:
            raise ServiceUnavailable("GET stock/ answered 503")
        return ["stock"]

    assert driver.patiently(stock_list) == ["stock"] and len(calls) == 3

    def down() -> list[str]:
        raise ServiceUnavailable("GET stock/ answered 503")

    with pytest.raises(ServiceUnavailable):
        driver.patiently(down, retry_for=0)


def test_a_rate_spaces_the_checkouts_starts(monkeypatch):
    """At 4 checkouts a second, the n-th starts n / 4 s after the first, whatever the
    concurrency (a clock of the test's own: no time is measured)."""
    now = [100.0]
    starts: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(driver, "checkout", lambda http, url, attempt, retry_for: starts.append(now[0]))
    config = RunConfig(url="http://shop", orders=5, concurrency=1, timeout=1, seed=1, rate=4, progress=False)
    attempts = [Attempt(index, ()) for index in range(5)]
    driver._checkout_all(driver._Http(), config, attempts, clock=lambda: now[0], sleep=sleep)
    assert starts == [100.0, 100.25, 100.5, 100.75, 101.0]
