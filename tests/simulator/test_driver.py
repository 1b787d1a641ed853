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
