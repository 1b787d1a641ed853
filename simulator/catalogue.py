"""The catalogue of failure kinds: for each, how to provoke it on a running shop and the
diagnosis it must produce (the service at fault, the operation, the cause: the
``telemetry.diagnosis.verdict`` vocabulary).

A kind is provoked through the shop's own doors only: fault flags (``manage.py faults``)
and checkouts over HTTP. ``run_kind`` provokes one, waits until the order has ended and
its trace has stopped growing (spans arrive in batches), diagnoses the stored trace with
``manage.py trace --analyze`` and compares the verdict with the expected one. The flow
test (``tests/flows/test_catalogue_flow.py``) runs every kind against one stack;
``bench/failure_catalogue.py`` prints the accuracy table and writes ``docs/failures.md``
from what the code produced.

The stack is anything with ``url`` (the shop's base URL) and ``manage(*args)`` (runs
``manage.py`` against its databases and returns the output): the flow tests' stack and the
benches' both are.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import requests

from instrumentation import names
from telemetry.diagnosis import verdict as v

SKU = "MONITOR-4K-27"
POLL = 0.5  # seconds between looks at an order or a trace
ORDER_TIMEOUT = 120.0  # seconds for an order to end, generous for a loaded machine
QUIET = 3.0  # seconds a trace must stop growing before it is read as whole
CONTENTION_TRIES = 6  # cart additions tried until one waits for the stalled worker's lock
CONTENDED_S = 1.0  # an addition slower than this waited for the lock (the stall is 8 s)


class Shop(Protocol):
    url: str

    def manage(self, *args: str) -> str: ...


class BrokerShop(Shop, Protocol):
    """A shop whose broker the caller can stop and start again (same address), for the
    kinds that need the broker down."""

    def stop_broker(self) -> None: ...

    def start_broker(self) -> None: ...


@dataclass(frozen=True)
class Expected:
    services: tuple[str, ...]  # any of these is right (a lock wait can land in any web app)
    operation: str  # the produced operation starts with this
    cause: str


@dataclass(frozen=True)
class Kind:
    name: str
    what: str  # the failure, in words
    provoke: Callable[[Shop], str]  # provokes it; returns the order id whose trace to read
    expected: Expected
    faults: dict[str, float] = field(default_factory=dict)  # flags used, for the page
    engines: tuple[str, ...] = ("sqlite", "postgresql")  # databases it can be provoked on
    needs_broker_control: bool = False  # provoke takes a ``BrokerShop``


@dataclass(frozen=True)
class Result:
    kind: Kind
    order_id: str
    produced: dict  # the verdict: service, operation, cause, sentence
    text: str  # the diagnosis as ``trace --analyze`` prints it (the tree left out)

    @property
    def right(self) -> bool:
        p, e = self.produced, self.kind.expected
        return (
            p.get("service") in e.services
            and str(p.get("operation", "")).startswith(e.operation)
            and p.get("cause") == e.cause
        )


# -- driving the shop ---------------------------------------------------------------------

FLAGS_SETTLE_S = 0.5  # over the stacks' FAULTS_CACHE_SECONDS (0.2 s): see set_faults


def set_faults(shop: Shop, **values: float) -> None:
    """Set exactly these flags, and wait until every process reads them: a web thread that
    read the flags just before keeps them for the stack's ``FAULTS_CACHE_SECONDS`` (0.2 s in
    the stacks the catalogue runs on), and a checkout sent at once met the old ones."""
    shop.manage("faults", "reset")
    if values:
        shop.manage("faults", "set", *(f"{name}={value}" for name, value in values.items()))
    time.sleep(FLAGS_SETTLE_S)


def _reset_faults(shop: Shop) -> bool:
    try:
        set_faults(shop)
    except Exception:  # the shop's manage raises its own error type: any failure means try again
        return False
    return True


def checkout(shop: Shop, token: str = "tok_ok") -> tuple[int, str]:
    """One checkout of one monitor; (HTTP status, order id). Refusals carry the id too."""
    body = {
        "items": [{"sku": SKU, "quantity": 1}],
        "email": "catalogue@example.com",
        "payment": {"method": "card", "token": token},
    }
    response = requests.post(f"{shop.url}/api/shop/checkout/", json=body, timeout=(5, 120))
    answer = response.json()
    order_id = answer.get("order_id") or (answer.get("extra") or {}).get("order_id", "")
    assert order_id, f"the checkout answered {response.status_code} without an order id: {answer}"
    return response.status_code, order_id


def order(shop: Shop, order_id: str) -> dict:
    return requests.get(f"{shop.url}/api/shop/orders/{order_id}/", timeout=(5, 30)).json()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


def wait_ended(shop: Shop, order_id: str) -> None:
    wait_until(
        lambda: order(shop, order_id)["status"] in ("confirmed", "failed"), ORDER_TIMEOUT, "the order to end"
    )


FINALIZE_RUN = names.run_span(names.FINALIZE_ORDER_TASK)
TRACE_PREFIX = "trace:"  # a provocation that names a trace rather than an order


def trace_args(target: str) -> list[str]:
    """``manage.py trace`` arguments for an order id or a ``trace:<id>`` target."""
    if target.startswith(TRACE_PREFIX):
        return [target.removeprefix(TRACE_PREFIX)]
    return ["--order", target]


def trace_spans(shop: Shop, order_id: str) -> list[dict]:
    try:
        return json.loads(shop.manage("trace", *trace_args(order_id), "--json"))
    except (AssertionError, subprocess.CalledProcessError, ValueError):  # no trace stored yet
        return []


def wait_trace_whole(shop: Shop, order_id: str) -> None:
    """Until the trace has stopped growing for ``QUIET`` seconds: its last batches are in."""
    seen, since = -1, time.monotonic()
    deadline = since + ORDER_TIMEOUT
    while time.monotonic() < deadline:
        count = len(trace_spans(shop, order_id))
        if count != seen:
            seen, since = count, time.monotonic()
        elif count and time.monotonic() - since >= QUIET:
            return
        time.sleep(POLL)
    raise TimeoutError(f"the trace of order {order_id} kept growing for {ORDER_TIMEOUT:.0f} s")


def diagnose(shop: Shop, order_id: str) -> tuple[dict, str]:
    """The verdict and the diagnosis text of the order's (or the named trace's) stored trace."""
    verdict = json.loads(shop.manage("trace", *trace_args(order_id), "--analyze", "--json"))["verdict"]
    text = shop.manage("trace", *trace_args(order_id), "--analyze")
    return verdict or {}, text[text.find("\ndiagnosis\n") + 1 :].rstrip()


# -- the kinds ----------------------------------------------------------------------------


def with_faults(faults: dict[str, float], *, until: str = "ended") -> Callable[[Shop], str]:
    """Provoke by flags: set them, check out, wait until ``until`` (the order ``ended``,
    the checkout ``answered``, or an order event of that kind), then clear them so later
    work (the compensation, a retry, the email) runs clean, and wait for the order to end."""

    def provoke(shop: Shop) -> str:
        set_faults(shop, **faults)
        try:
            _, order_id = checkout(shop)
            if until == "ended":
                wait_ended(shop, order_id)
            elif until != "answered":
                wait_until(
                    lambda: until in [e["kind"] for e in order(shop, order_id)["events"]],
                    ORDER_TIMEOUT,
                    f"the order event {until}",
                )
        finally:
            set_faults(shop)
        wait_ended(shop, order_id)
        return order_id

    return provoke


def worker_crash(shop: Shop) -> str:
    """The worker child running finalize is killed after it asked for the steps; the steps
    confirm the order meanwhile. The task is delivered again once the worker's main process
    has noticed the dead child (billiard's pool took 4.6 s in one run, past ``QUIET``):
    wait for that run (the killed one's span never arrives), the diagnosis names it."""
    order_id = with_faults({"worker_crash": 1.0}, until="worker_crash_injected")(shop)
    wait_until(
        lambda: any(s["name"] == FINALIZE_RUN for s in trace_spans(shop, order_id)),
        ORDER_TIMEOUT,
        "finalize delivered again",
    )
    return order_id


def lock_contention(shop: Shop) -> str:
    """The worker holds SQLite's write lock: every confirmation UPDATE stalls 8 s
    (``order_db_timeout``, four attempts). Once attempt 1 has failed (its run span is
    stored), attempt 2 is stalling: a shopper adds to the cart, and the web's session write
    waits for the lock. The flags stay set throughout (resetting them is a write that
    would wait too); the cart request's trace is read, named by its ``traceresponse``."""
    set_faults(shop, order_db_timeout=1.0, order_db_stall=8)
    try:
        _, holder = checkout(shop)
        wait_until(
            lambda: any(
                s["name"] == FINALIZE_RUN and s["status"] == "ERROR" for s in trace_spans(shop, holder)
            ),
            ORDER_TIMEOUT,
            "the first stalled attempt",
        )
        browser = requests.Session()
        product_page = f"{shop.url}/products/{SKU}/"  # its form adds to the cart
        page = browser.get(product_page, timeout=(5, 60)).text
        token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        for _ in range(CONTENTION_TRIES):
            answer = browser.post(
                f"{shop.url}/cart/add/{SKU}/",
                data={"csrfmiddlewaretoken": token, "quantity": "1"},
                headers={"Referer": product_page},
                allow_redirects=False,
                timeout=(5, 120),
            )
            # 302 once the lock came free; 500 "database is locked" when the worker took it
            # again between two attempts and the wait outlasted SQLite's busy timeout (20 s):
            # the same contention, diagnosed the same way.
            assert answer.status_code in (302, 500), f"the cart answered {answer.status_code}"
            # Answered at once: it came between two attempts (the next one was still in its
            # retry countdown), so nothing held the lock; add again while one stalls.
            if answer.status_code == 500 or answer.elapsed.total_seconds() >= CONTENDED_S:
                break
            time.sleep(POLL)
        trace_id = answer.headers["traceresponse"].split("-")[1]
    finally:
        # The reset is a write: it waits for the stalled attempt's lock like the cart did,
        # and may outlast SQLite's busy timeout on a loaded machine; try until it lands.
        wait_until(lambda: _reset_faults(shop), ORDER_TIMEOUT, "the fault flags to reset")
    wait_ended(shop, holder)
    return TRACE_PREFIX + trace_id


def broker_down(shop: Shop) -> str:
    """The broker is down while an order is placed: the order is written with its outbox
    row and the checkout answers; the publish fails. The broker comes back, reconcile's
    relay publishes the task from the outbox into the order's trace, and the order ends."""
    assert hasattr(shop, "stop_broker"), "broker_down needs a shop whose broker can be stopped"
    broker: BrokerShop = shop  # type: ignore[assignment]
    set_faults(shop)
    broker.stop_broker()
    try:
        _, order_id = checkout(shop)
    finally:
        broker.start_broker()
    wait_ended(shop, order_id)
    return order_id


def n_plus_one(shop: Shop) -> str:
    """The product list read row by row (``catalogue_n_plus_one``): one SELECT of the ids,
    then one per product, each fast and folded into the page's span. No order is involved;
    the page's trace is read, named by its ``traceresponse``."""
    set_faults(shop, catalogue_n_plus_one=1.0)
    try:
        answer = requests.get(f"{shop.url}/", timeout=(5, 60))
        assert answer.status_code == 200, f"the product list answered {answer.status_code}"
        trace_id = answer.headers["traceresponse"].split("-")[1]
    finally:
        set_faults(shop)
    return TRACE_PREFIX + trace_id


DB_UPDATE = "UPDATE orders_order"
# The flow test splits the kinds into two xdist groups by position, alternately: a new kind
# goes at the end, where it keeps the groups as balanced as they were.
KINDS: tuple[Kind, ...] = (
    Kind(
        "payment_decline",
        "the card gateway declines the authorisation",
        with_faults({"payment_decline": 1.0}),
        Expected(("payments",), "gateway authorize", v.CARD_DECLINED),
        {"payment_decline": 1.0},
    ),
    Kind(
        "gateway_latency",
        "every card gateway call takes 1.5 s",
        with_faults({"gateway_latency": 1500}),
        # The authorisation calls the gateway in payments' web process, the capture in its
        # worker: either slow call is the slow gateway, whichever the trace shows slowest.
        Expected(("payments", "payments-worker"), "gateway ", v.SLOW_GATEWAY),
        {"gateway_latency": 1500},
    ),
    Kind(
        "payments_unreachable",
        "the calls to payments go to an address that refuses connections",
        with_faults({"payments_unreachable": 1.0}, until="answered"),
        Expected(("payments",), "POST /api/payments/authorizations/", v.UNREACHABLE),
        {"payments_unreachable": 1.0},
    ),
    Kind(
        "inventory_shortage",
        "inventory refuses the reservation as out of stock",
        with_faults({"inventory_shortage": 1.0}),
        Expected(("inventory",), "POST api/inventory/reservations/", v.REFUSED),
        {"inventory_shortage": 1.0},
    ),
    Kind(
        "inventory_latency",
        "every reservation call takes 1.5 s inside inventory",
        with_faults({"inventory_latency": 1500}),
        Expected(("inventory",), "POST api/inventory/reservations/", v.SLOW_CODE),
        {"inventory_latency": 1500},
    ),
    Kind(
        "order_db_timeout",
        "the worker's confirmation UPDATE times out on every attempt; the order is compensated",
        with_faults({"order_db_timeout": 1.0, "order_db_stall": 0.3}),
        Expected(("orders-worker",), DB_UPDATE, v.DB_TIMEOUT),
        {"order_db_timeout": 1.0, "order_db_stall": 0.3},
    ),
    Kind(
        "order_place_db_timeout",
        "the checkout's order placement UPDATE times out; the checkout answers 503",
        with_faults({"order_place_db_timeout": 1.0, "order_db_stall": 0.3}),
        Expected(("orders",), DB_UPDATE, v.DB_TIMEOUT),
        {"order_place_db_timeout": 1.0, "order_db_stall": 0.3},
    ),
    Kind(
        "order_db_stall",
        "the database stalls 2 s before the placement UPDATE times out",
        with_faults({"order_place_db_timeout": 1.0, "order_db_stall": 2.0}),
        Expected(("orders",), DB_UPDATE, v.DB_TIMEOUT),
        {"order_place_db_timeout": 1.0, "order_db_stall": 2.0},
    ),
    Kind(
        "email_failure",
        "the mail server refuses the confirmation email (the order stays confirmed)",
        with_faults({"email_failure": 1.0}, until="confirmed"),
        Expected(("orders-worker",), "run/orders.send_order_email", v.TASK_FAILED),
        {"email_failure": 1.0},
    ),
    Kind(
        "worker_crash",
        "the worker process is killed mid-finalize; the task is delivered again",
        worker_crash,
        Expected(("orders-worker",), "run/orders.finalize_order", v.WORKER_LOST),
        {"worker_crash": 1.0},
    ),
    Kind(
        "lock_contention",
        "a web request waits for SQLite's write lock while the worker's stalled UPDATE holds it",
        lock_contention,
        Expected(("shop",), "", v.LOCK_CONTENTION),
        {"order_db_timeout": 1.0, "order_db_stall": 8},
        engines=("sqlite",),
    ),
    Kind(
        "broker_down",
        "the broker (Redis) is down while the order is placed; the outbox and reconcile publish it later",
        broker_down,
        Expected(("orders",), "apply_async/orders.finalize_order", v.BROKER_DOWN),
        needs_broker_control=True,
    ),
    Kind(
        "n_plus_one",
        "the product list reads its products one SELECT per row",
        n_plus_one,
        Expected(("shop",), "GET", v.N_PLUS_ONE),
        {"catalogue_n_plus_one": 1.0},
    ),
    Kind(
        "slow_query",
        "the checkout's catalogue query takes 2 s in the database (the order is confirmed, late)",
        with_faults({"catalogue_slow_query": 2000}),
        Expected(("shop",), "SELECT shop_product", v.SLOW_QUERY),
        {"catalogue_slow_query": 2000},
    ),
    Kind(
        "dependency_5xx",
        "inventory sheds the reservation call with HTTP 503; the checkout fails the order",
        with_faults({"inventory_unavailable": 1.0}),
        Expected(("inventory",), "POST api/inventory/reservations/", v.DEPENDENCY_5XX),
        {"inventory_unavailable": 1.0},
    ),
)
BY_NAME = {kind.name: kind for kind in KINDS}


def run_kind(shop: Shop, kind: Kind) -> Result:
    order_id = kind.provoke(shop)
    wait_trace_whole(shop, order_id)
    produced, text = diagnose(shop, order_id)
    return Result(kind, order_id, produced, text)


# -- the page -----------------------------------------------------------------------------


def expected_text(kind: Kind) -> str:
    e = kind.expected
    return f"{e.cause}, in {' or '.join(e.services)}: {e.operation or 'any'}"


def produced_text(result: Result) -> str:
    p = result.produced
    return f"{p.get('cause', '?')}, in {p.get('service') or '-'}: {p.get('operation') or '-'}"


def accuracy_table(results: list[Result]) -> str:
    rows = [("kind", "expected", "produced", "right?")]
    rows += [
        (r.kind.name, expected_text(r.kind), produced_text(r), "yes" if r.right else "NO") for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    right = sum(r.right for r in results)
    lines.append(f"\n{right} of {len(results)} right ({right / max(len(results), 1):.0%})")
    return "\n".join(lines)


def traces_read(results: list[Result]) -> list[str]:
    """Which stored trace each kind's text was read from, as the header says it: the order's,
    or, for a kind whose provocation named a trace (``TRACE_PREFIX``), a request's."""
    by_trace = [r.kind.name for r in results if r.order_id.startswith(TRACE_PREFIX)]
    if not by_trace:
        return ["`manage.py trace --order <id> --analyze` printed for the order's stored trace."]
    kinds = ", ".join(by_trace[:-1]) + (" and " if len(by_trace) > 1 else "") + by_trace[-1]
    return [
        "`manage.py trace --analyze` printed for a stored trace: the order's (`--order <id>`), or",
        f"for {kinds} the trace of the request that met the failure (named by its",
        "`traceresponse` header).",
    ]


def page(results: list[Result], *, engine: str, skipped: list[Kind], when: str) -> str:
    """``docs/failures.md``: every kind, how it is provoked, what is expected and the
    diagnosis text the code produced for it."""
    right = sum(r.right for r in results)
    out = [
        "# Failure kinds and their diagnosis",
        "",
        "Generated by `bench/failure_catalogue.py` from `simulator/catalogue.py`: each kind was",
        f"provoked on a real stack ({engine}, {when}), and the text under it is what",
        *traces_read(results),
        "Do not edit by hand; run the bench again.",
        "",
        f"**{right} of {len(results)} kinds diagnosed right** (service, operation and cause as expected).",
        "",
        "| kind | provoked by | expected | produced | right? |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        flags = ", ".join(f"`{k}={val:g}`" for k, val in r.kind.faults.items()) or "an action"
        out.append(
            f"| [{r.kind.name}](#{r.kind.name.replace('_', '-')}) | {flags} | {expected_text(r.kind)} "
            f"| {produced_text(r)} | {'yes' if r.right else '**no**'} |"
        )
    for kind in skipped:
        out.append(f"| {kind.name} | not provoked on {engine} | {expected_text(kind)} | - | - |")
    for r in results:
        out += ["", f"## {r.kind.name}", "", r.kind.what + ".", "", "```text", r.text, "```"]
    return "\n".join(out) + "\n"
