"""The order simulator's driver: real checkouts over HTTP against a running shop.

``run`` buys random baskets from the catalogue through the public API with a pool of
threads, waits until every order it created is confirmed or failed, and hands back what it
measured: each checkout's answer and its order's end, stock before and after, and this
run's money. ``simulator.report`` turns that into the report and ``simulator.invariants``
checks it; ``manage.py simulate_orders`` is the command and ``bench/throughput.py`` its
benchmark.

It is a client of the shop and writes nothing itself: the public API for the catalogue,
checkouts and order status; the payments and inventory clients (internal APIs, service
token) for money and stock.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import requests
from tqdm import tqdm

from core.api import ServiceUnavailable
from inventory import client as inventory_client
from payments import client as payments_client

TERMINAL = ("confirmed", "failed")  # "failing" is not: its payment and stock are being undone
EXPECTED_REFUSALS = (402, 409)  # declined card, short stock: answers, not errors
CHECKOUT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
RETRY_PAUSE = 1.0  # seconds between a checkout's retries
STATUS_TIMEOUT = (5.0, 30.0)
POLL_INTERVAL = 0.25  # seconds between rounds of status reads while orders finish
MAX_POLL_INTERVAL = 2.0  # the longest wait, after rounds in which no order finished
# Seconds a read (the catalogue, an order's status, stock, money) that met a shop without
# its database (503 + Retry-After) or no answer at all is tried again before the run gives
# up: a read changes nothing, so retrying it is always safe (bench/chaos.py restarts the
# database under the run). A 503's Retry-After sets the pause, at most MAX_READ_PAUSE.
READ_RETRY_FOR = 60.0
MAX_READ_PAUSE = 5.0

T = TypeVar("T")


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class RunConfig:
    url: str
    orders: int
    concurrency: int
    timeout: float
    seed: int
    scenario: str | None = None  # recorded in the report; the command applies it
    # Seconds a checkout that got no answer is sent again with its Idempotency-Key, as a
    # customer would retry (bench/chaos.py kills web processes mid-checkout); 0: never.
    retry_for: float = 0.0
    progress: bool | None = None  # None: bars only on a terminal
    # Checkouts started per second at most (0: as fast as ``concurrency`` allows): a run
    # that should measure the shop at the pace its workers confirm, not build a backlog.
    rate: float = 0.0


@dataclass
class Attempt:
    """One checkout of the run and what became of its order (filled in as the run goes)."""

    index: int
    basket: tuple[Line, ...]
    key: str = field(default_factory=lambda: str(uuid.uuid4()))  # the checkout's Idempotency-Key
    retries: int = 0  # sent again after no answer, or while the key was held
    http_status: int | None = None  # None: no answer (connection error, timeout)
    code: str = ""
    error: str = ""
    order_id: str = ""
    trace_id: str = ""
    status_url: str = ""
    checkout_ms: float | None = None
    status: str = ""
    reason: str = ""
    total_cents: int = 0
    readable: bool | None = None  # None: never read; False: the shop answered 404
    created_at: datetime | None = None
    confirmed_at: datetime | None = None


@dataclass(frozen=True)
class RunResult:
    """What one run measured, before anything is judged."""

    attempts: list[Attempt]
    stock_before: list[inventory_client.StockLevel]
    stock_after: list[inventory_client.StockLevel]
    money: payments_client.PaymentSummary  # this run's orders only
    checkout_seconds: float
    wait_seconds: float


# --- baskets -------------------------------------------------------------------------------


def make_baskets(skus: list[str], count: int, seed: int) -> list[tuple[Line, ...]]:
    """``count`` baskets of 1-3 different SKUs, 1-2 units each; the same seed and SKUs
    give the same baskets."""
    rng, choices = random.Random(seed), sorted(skus)

    def basket() -> tuple[Line, ...]:
        picked = rng.sample(choices, rng.randint(1, min(3, len(choices))))
        return tuple(Line(sku, rng.randint(1, 2)) for sku in picked)

    return [basket() for _ in range(count)]


# --- the run -------------------------------------------------------------------------------


class _Http:
    """A requests session per thread (a Session is not documented as thread-safe)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session


def run(config: RunConfig) -> RunResult:
    """Make the checkouts, wait for their orders, and read money and stock."""
    http = _Http()
    baskets = make_baskets(_catalogue(http, config.url), config.orders, config.seed)
    attempts = [Attempt(index, basket) for index, basket in enumerate(baskets)]
    stock_before = patiently(inventory_client.stock_list)
    started = time.monotonic()
    _checkout_all(http, config, attempts)
    checkout_seconds = time.monotonic() - started
    _wait_all(http, config, attempts)
    wait_seconds = time.monotonic() - started - checkout_seconds
    return RunResult(
        attempts=attempts,
        stock_before=stock_before,
        stock_after=patiently(inventory_client.stock_list),
        money=patiently(
            lambda: payments_client.payment_summary(order_ids=[a.order_id for a in attempts if a.order_id])
        ),
        checkout_seconds=checkout_seconds,
        wait_seconds=wait_seconds,
    )


def _pause(response: requests.Response | None) -> float:
    """How long to wait before reading again: a 503's Retry-After (seconds), capped."""
    try:
        asked = float(response.headers.get("Retry-After", "")) if response is not None else RETRY_PAUSE
    except ValueError:
        asked = RETRY_PAUSE
    return min(max(asked, 0.1), MAX_READ_PAUSE)


def read(http: _Http, url: str, *, retry_for: float | None = None, **kwargs) -> requests.Response:
    """GET ``url``; a 503 (the shop's database is down or restarting) or no answer is read
    again, after Retry-After, for up to ``retry_for`` seconds (READ_RETRY_FOR by default).
    Returns the last answer; raises the last connection error if none came."""
    give_up = time.monotonic() + (READ_RETRY_FOR if retry_for is None else retry_for)
    while True:
        try:
            response: requests.Response | None = http.session().get(url, timeout=STATUS_TIMEOUT, **kwargs)
        except requests.RequestException:
            if time.monotonic() >= give_up:
                raise
            response = None
        if response is not None and (response.status_code != 503 or time.monotonic() >= give_up):
            return response
        time.sleep(min(_pause(response), max(give_up - time.monotonic(), 0.0)))


def patiently(call: Callable[[], T], retry_for: float | None = None) -> T:
    """``call()`` (a read through an app's client), tried again while the app answers
    ServiceUnavailable (a 5xx, no answer), for up to ``retry_for`` seconds."""
    give_up = time.monotonic() + (READ_RETRY_FOR if retry_for is None else retry_for)
    while True:
        try:
            return call()
        except ServiceUnavailable:
            if time.monotonic() >= give_up:
                raise
            time.sleep(RETRY_PAUSE)


def _catalogue(http: _Http, url: str) -> list[str]:
    """The SKUs the shop sells."""
    products = read(http, f"{url}/api/shop/products/")
    products.raise_for_status()
    skus = [product["sku"] for product in products.json()]
    if not skus:
        raise ValueError(f"the catalogue at {url} is empty; seed it (manage.py seed_demo)")
    return skus


def _bar(config: RunConfig, total: int, desc: str) -> tqdm:
    return tqdm(
        total=total, desc=desc, unit="order", disable=None if config.progress is None else not config.progress
    )


def _checkout_all(
    http: _Http,
    config: RunConfig,
    attempts: list[Attempt],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    started = clock()

    def paced(attempt: Attempt) -> None:
        """The checkout, once its turn at ``config.rate`` has come."""
        if config.rate > 0:
            sleep(max(0.0, started + attempt.index / config.rate - clock()))
        checkout(http, config.url, attempt, config.retry_for)

    with _bar(config, len(attempts), "checkouts") as bar, ThreadPoolExecutor(config.concurrency) as pool:
        futures = [pool.submit(paced, a) for a in attempts]
        for future in as_completed(futures):
            future.result()
            bar.update()


def checkout(http: _Http, url: str, attempt: Attempt, retry_for: float = 0.0) -> None:
    """One checkout. With ``retry_for``, no answer (the web process died, the connection
    dropped), ``409 idempotency_request_in_progress`` (the dead request still holds the
    key) and ``503`` (after its Retry-After: the database restarting) are retried with the
    same key until it is answered otherwise or the time is up."""
    body = {
        "items": [{"sku": line.sku, "quantity": line.quantity} for line in attempt.basket],
        "email": f"sim-{attempt.index}@example.com",
        "payment": {"method": "card", "token": "tok_ok"},
    }
    headers = {"Idempotency-Key": attempt.key}
    started = time.perf_counter()
    give_up = time.monotonic() + retry_for
    while True:
        try:
            response = http.session().post(
                f"{url}/api/shop/checkout/", json=body, headers=headers, timeout=CHECKOUT_TIMEOUT
            )
        except requests.RequestException as exc:
            if time.monotonic() < give_up:
                attempt.retries += 1
                time.sleep(RETRY_PAUSE)
                continue
            attempt.error = f"{type(exc).__name__}: {exc}"
            return
        code = _json(response).get("code") if response.status_code == 409 else None
        held = code == "idempotency_request_in_progress"
        if held and time.monotonic() < give_up:
            attempt.retries += 1
            time.sleep(RETRY_PAUSE)
            continue
        # 503 (the database restarting): the answer is "retry", and the order may already
        # be placed (the crash came after it, before the answer was stored). A retry with
        # the same key gets that one order, where a customer who gave up would not know it.
        if response.status_code == 503 and time.monotonic() < give_up:
            attempt.retries += 1
            time.sleep(min(_pause(response), max(give_up - time.monotonic(), 0.0)))
            continue
        break
    attempt.checkout_ms = (time.perf_counter() - started) * 1000
    attempt.http_status = response.status_code
    attempt.trace_id = _trace_id(response.headers.get("traceresponse", ""))
    _record_answer(attempt, response)


def _record_answer(attempt: Attempt, response: requests.Response) -> None:
    data = _json(response)
    if response.status_code == 202:
        attempt.order_id, attempt.status_url = data["order_id"], data["status_url"]
        attempt.trace_id = data.get("trace_id") or attempt.trace_id
        return
    attempt.code = data.get("code", "")
    # A refusal (or a 503 after the shop undid the order) names the order it failed.
    attempt.order_id = (data.get("extra") or {}).get("order_id", "")
    if response.status_code not in EXPECTED_REFUSALS:
        attempt.error = f"{response.status_code} {attempt.code}: {data.get('message') or response.text[:200]}"


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _trace_id(traceresponse: str) -> str:
    """The trace id of a W3C ``traceresponse`` header (version-traceid-spanid-flags)."""
    parts = traceresponse.split("-")
    return parts[1] if len(parts) == 4 else ""


def _wait_all(http: _Http, config: RunConfig, attempts: list[Attempt]) -> None:
    """Read orders' status until all are terminal (or unreadable) or time is up; at the
    deadline, every open order is read once more, so the report shows where each one stands."""
    deadline = time.monotonic() + config.timeout
    poller = StatusPoller([attempt for attempt in attempts if attempt.order_id], batch=config.concurrency)
    with _bar(config, len(poller.pending), "terminal") as bar, ThreadPoolExecutor(config.concurrency) as pool:

        def read_all(batch: list[Attempt]) -> None:
            list(pool.map(lambda attempt: read_status(http, config.url, attempt), batch))

        while poller.pending:
            if time.monotonic() >= deadline:
                read_all(poller.pending)
                return
            bar.update(poller.poll(read_all))
            time.sleep(poller.interval)


class StatusPoller:
    """Which open orders to read next, so that waiting for N orders does not cost N reads a
    round. The worker confirms orders roughly in the order they were placed, so a round reads
    them oldest first, a batch at a time, and stops at the first batch in which none has
    finished: the ones after it are younger still. A round in which nothing finished doubles
    the pause before the next (up to MAX_POLL_INTERVAL) and starts the next round one batch
    further on, so a few slow orders at the front (retrying) cannot hide the others."""

    def __init__(self, pending: list[Attempt], *, batch: int) -> None:
        self.pending, self.batch = list(pending), max(1, batch)
        self.interval = POLL_INTERVAL
        self._start = 0  # where the next round begins in ``pending``

    def poll(self, read: Callable[[list[Attempt]], None]) -> int:
        """One round: ``read`` updates the attempts it is given. Returns how many finished."""
        finished, position = 0, self._start if self._start < len(self.pending) else 0
        while position < len(self.pending):
            batch = self.pending[position : position + self.batch]
            read(batch)
            done = sum(1 for attempt in batch if _finished(attempt))
            finished += done
            position += len(batch)
            if not done:
                break
        self.pending = [attempt for attempt in self.pending if not _finished(attempt)]
        self._start = 0 if finished else position
        self.interval = POLL_INTERVAL if finished else min(2 * self.interval, MAX_POLL_INTERVAL)
        return finished


def _finished(attempt: Attempt) -> bool:
    return attempt.status in TERMINAL or attempt.readable is False


def untraced_headers() -> dict[str, str]:
    """A W3C ``traceparent`` whose sampled flag is off: behind a trusted gateway
    (``TELEMETRY_TRUST_INCOMING_CONTEXT``) the shop's parent-based sampler then records
    nothing for the request, so the simulator's many status polls do not bury the
    checkouts' traces in the store. By default the shop's public edge ignores it, and the
    status polls' sampling rule keeps them few."""
    return {"traceparent": f"00-{random.getrandbits(128) | 1:032x}-{random.getrandbits(64) | 1:016x}-00"}


def read_status(http: _Http, url: str, attempt: Attempt) -> None:
    status_url = attempt.status_url or f"{url}/api/shop/orders/{attempt.order_id}/"
    try:
        response = read(http, status_url, headers=untraced_headers())
    except requests.RequestException:
        return  # read again next round
    if response.status_code == 404:
        attempt.readable = False
    if response.status_code != 200:
        return
    data = response.json()
    attempt.readable = True
    attempt.status, attempt.reason = data["status"], data["reason"]
    attempt.trace_id, attempt.total_cents = data["trace_id"] or attempt.trace_id, data["total_cents"]
    at = {event["kind"]: datetime.fromisoformat(event["at"]) for event in data["events"]}
    attempt.created_at, attempt.confirmed_at = at.get("created"), at.get("confirmed")
