"""The order simulator: real checkouts over HTTP against a running shop, then the books.

``run`` buys random baskets from the catalogue through the public API with a pool of
threads, waits until every order it created is confirmed or failed, and checks what must
hold whatever the faults: no order lost or stuck, every authorisation captured, voided or
refunded, stock conserved. ``manage.py simulate_orders`` is its command and
``bench/throughput.py`` its benchmark.

It is a client of the shop and writes nothing itself: the public API for the catalogue,
checkouts and order status; the payments and inventory clients (internal APIs, service
token) for money and stock. The money checks are scoped to this run's order ids, so other
traffic cannot disturb them. The stock API has no per-order view, so the stock checks
compare before and after the run: they hold only when nothing else moves stock meanwhile.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime

import requests
from tqdm import tqdm

from core.stats import percentile
from inventory import client as inventory_client
from payments import client as payments_client

TERMINAL = ("confirmed", "failed")  # "failing" is not: its payment and stock are being undone
EXPECTED_REFUSALS = (402, 409)  # declined card, short stock: answers, not errors
CHECKOUT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
STATUS_TIMEOUT = (5.0, 30.0)
POLL_INTERVAL = 0.25  # seconds between rounds of status reads while orders are open
LISTED = 20  # failed, stuck and errored orders listed in the text (the JSON has them all)
SLOWEST = 5


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
    progress: bool | None = None  # None: bars only on a terminal


@dataclass
class Attempt:
    """One checkout of the run and what became of its order (filled in as the run goes)."""

    index: int
    basket: tuple[Line, ...]
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
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    http_status: int | None
    status: str
    reason: str
    trace_id: str
    checkout_ms: float | None
    confirmation_ms: float | None
    error: str


@dataclass(frozen=True)
class Report:
    url: str
    orders: int
    concurrency: int
    seed: int
    scenario: str | None
    timeout_s: float
    answers: dict[str, int]  # checkouts by HTTP status; "no answer" for connection errors
    confirmed: int
    failed_by_reason: dict[str, int]
    checkout_ms: dict[str, float | None]  # p50, p95, p99 over answered checkouts
    confirmation_ms: dict[str, float | None]  # p50, p95: order created → confirmed (server clock)
    checkout_seconds: float
    wait_seconds: float
    confirmed_per_second: float | None  # confirmed / (first created → last confirmed)
    slowest: list[OrderRow]
    failed: list[OrderRow]
    stuck: list[OrderRow]
    errors: list[OrderRow]
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


# --- baskets and percentiles ---------------------------------------------------------------


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


def run(config: RunConfig) -> Report:
    """Make the checkouts, wait for their orders, read money and stock, and report."""
    http = _Http()
    products = http.session().get(f"{config.url}/api/shop/products/", timeout=STATUS_TIMEOUT)
    products.raise_for_status()
    skus = [product["sku"] for product in products.json()]
    if not skus:
        raise ValueError(f"the catalogue at {config.url} is empty; seed it (manage.py seed_demo)")
    baskets = make_baskets(skus, config.orders, config.seed)
    attempts = [Attempt(index, basket) for index, basket in enumerate(baskets)]
    stock_before = inventory_client.stock_list()
    started = time.monotonic()
    _checkout_all(http, config, attempts)
    checkout_seconds = time.monotonic() - started
    _wait_all(http, config, attempts)
    wait_seconds = time.monotonic() - started - checkout_seconds
    stock_after = inventory_client.stock_list()
    money = payments_client.payment_summary(order_ids=[a.order_id for a in attempts if a.order_id])
    return build_report(config, attempts, stock_before, stock_after, money, checkout_seconds, wait_seconds)


def _bar(config: RunConfig, total: int, desc: str) -> tqdm:
    return tqdm(
        total=total, desc=desc, unit="order", disable=None if config.progress is None else not config.progress
    )


def _checkout_all(http: _Http, config: RunConfig, attempts: list[Attempt]) -> None:
    with _bar(config, len(attempts), "checkouts") as bar, ThreadPoolExecutor(config.concurrency) as pool:
        for future in as_completed([pool.submit(checkout, http, config.url, a) for a in attempts]):
            future.result()
            bar.update()


def checkout(http: _Http, url: str, attempt: Attempt) -> None:
    body = {
        "items": [{"sku": line.sku, "quantity": line.quantity} for line in attempt.basket],
        "email": f"sim-{attempt.index}@example.com",
        "payment": {"method": "card", "token": "tok_ok"},
    }
    started = time.perf_counter()
    try:
        response = http.session().post(f"{url}/api/shop/checkout/", json=body, timeout=CHECKOUT_TIMEOUT)
    except requests.RequestException as exc:
        attempt.error = f"{type(exc).__name__}: {exc}"
        return
    attempt.checkout_ms = (time.perf_counter() - started) * 1000
    attempt.http_status = response.status_code
    attempt.trace_id = _trace_id(response.headers.get("traceresponse", ""))
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
    """Read every order's status until all are terminal (or unreadable) or time is up."""
    deadline = time.monotonic() + config.timeout
    pending = [attempt for attempt in attempts if attempt.order_id]
    with _bar(config, len(pending), "terminal") as bar, ThreadPoolExecutor(config.concurrency) as pool:
        while True:
            list(pool.map(lambda attempt: read_status(http, config.url, attempt), pending))
            still = [a for a in pending if a.status not in TERMINAL and a.readable is not False]
            bar.update(len(pending) - len(still))
            pending = still
            if not pending or time.monotonic() >= deadline:
                return
            time.sleep(POLL_INTERVAL)


def untraced_headers() -> dict[str, str]:
    """A W3C ``traceparent`` whose sampled flag is off: the shop's parent-based sampler
    then records nothing for the request, so the simulator's many status polls do not
    bury the checkouts' traces in the store."""
    return {"traceparent": f"00-{random.getrandbits(128) | 1:032x}-{random.getrandbits(64) | 1:016x}-00"}


def read_status(http: _Http, url: str, attempt: Attempt) -> None:
    status_url = attempt.status_url or f"{url}/api/shop/orders/{attempt.order_id}/"
    try:
        response = http.session().get(status_url, timeout=STATUS_TIMEOUT, headers=untraced_headers())
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


# --- the report ----------------------------------------------------------------------------


def build_report(
    config: RunConfig,
    attempts: list[Attempt],
    stock_before: list[inventory_client.StockLevel],
    stock_after: list[inventory_client.StockLevel],
    money: payments_client.PaymentSummary,
    checkout_seconds: float,
    wait_seconds: float,
) -> Report:
    """Everything the run measured, with the invariant checks."""
    confirmed = [a for a in attempts if a.status == "confirmed"]
    failed = [a for a in attempts if a.status == "failed"]
    latencies = [a.checkout_ms for a in attempts if a.checkout_ms is not None]
    to_confirm = [_confirmation_ms(a) for a in confirmed if a.created_at and a.confirmed_at]
    answers = Counter(str(a.http_status) if a.http_status else "no answer" for a in attempts)
    return Report(
        url=config.url,
        orders=config.orders,
        concurrency=config.concurrency,
        seed=config.seed,
        scenario=config.scenario,
        timeout_s=config.timeout,
        answers=dict(sorted(answers.items())),
        confirmed=len(confirmed),
        failed_by_reason=dict(Counter(_reason_label(a.reason) for a in failed).most_common()),
        checkout_ms={f"p{p}": percentile(latencies, p) for p in (50, 95, 99)},
        confirmation_ms={f"p{p}": percentile(to_confirm, p) for p in (50, 95)},
        checkout_seconds=checkout_seconds,
        wait_seconds=wait_seconds,
        confirmed_per_second=_confirmed_per_second(confirmed),
        slowest=[_row(a) for a in sorted(attempts, key=lambda a: -(a.checkout_ms or 0))[:SLOWEST]],
        failed=[_row(a) for a in failed],
        stuck=[
            _row(a) for a in attempts if a.order_id and a.readable is not False and a.status not in TERMINAL
        ],
        errors=[_row(a) for a in attempts if a.error],
        checks=[
            check_terminal(attempts, config.timeout),
            check_none_lost(attempts),
            *check_stock(stock_before, stock_after, confirmed_units(attempts)),
            *check_money(
                money,
                accepted=sum(a.http_status == 202 for a in attempts),
                confirmed=len(confirmed),
                confirmed_cents=sum(a.total_cents for a in confirmed),
            ),
        ],
    )


def _confirmation_ms(attempt: Attempt) -> float:
    return (attempt.confirmed_at - attempt.created_at).total_seconds() * 1000


def _confirmed_per_second(confirmed: list[Attempt]) -> float | None:
    """Confirmed orders over the span from the first order's creation to the last
    confirmation, both on the shop's clock, so polling does not blur it."""
    stamped = [a for a in confirmed if a.created_at and a.confirmed_at]
    if not stamped:
        return None
    seconds = (max(a.confirmed_at for a in stamped) - min(a.created_at for a in stamped)).total_seconds()
    return len(stamped) / seconds if seconds > 0 else None


def _reason_label(reason: str) -> str:
    """What a failure reason is, without its particulars: the text before the first colon
    ("insufficient_stock", "finalize gave up after 4 attempts")."""
    return reason.split(":", 1)[0].strip() or "(no reason given)"


def _row(attempt: Attempt) -> OrderRow:
    confirmation = _confirmation_ms(attempt) if attempt.created_at and attempt.confirmed_at else None
    return OrderRow(
        order_id=attempt.order_id,
        http_status=attempt.http_status,
        status=attempt.status,
        reason=attempt.reason,
        trace_id=attempt.trace_id,
        checkout_ms=attempt.checkout_ms,
        confirmation_ms=confirmation,
        error=attempt.error,
    )


def confirmed_units(attempts: list[Attempt]) -> Counter:
    """Units per SKU in the baskets of the orders that were confirmed."""
    units = Counter()
    for attempt in attempts:
        if attempt.status == "confirmed":
            for line in attempt.basket:
                units[line.sku] += line.quantity
    return units


# --- invariants ----------------------------------------------------------------------------


def check_terminal(attempts: list[Attempt], timeout: float) -> Check:
    """Every order the run created is confirmed or failed before the timeout."""
    orders = [a for a in attempts if a.order_id and a.readable is not False]
    open_ = Counter(a.status or "unread" for a in orders if a.status not in TERMINAL)
    done = len(orders) - sum(open_.values())
    detail = (
        f"{done} of {len(orders)} orders confirmed or failed within {timeout:g} s after the last checkout"
    )
    if open_:
        detail += "; still open: " + ", ".join(f"{n} {status}" for status, n in sorted(open_.items()))
    return Check("every order terminal", not open_, detail)


def check_none_lost(attempts: list[Attempt]) -> Check:
    """Every order id the shop answered with (202, or a refusal naming its order) can be read."""
    named = [a for a in attempts if a.order_id]
    lost = [a.order_id for a in named if a.readable is False]
    detail = f"{len(named) - len(lost)} of {len(named)} order ids the shop answered with are readable"
    if lost:
        detail += "; 404 for " + ", ".join(lost[:LISTED])
    uncovered = sum(bool(a.error) and not a.order_id for a in attempts)
    if uncovered:
        detail += f" ({uncovered} checkouts errored without naming an order: not covered)"
    return Check("no order lost", not lost, detail)


Pair = tuple[str, inventory_client.StockLevel, inventory_client.StockLevel]  # SKU, before, after


def check_stock(
    before: list[inventory_client.StockLevel],
    after: list[inventory_client.StockLevel],
    confirmed: Counter,
) -> list[Check]:
    """Units are conserved per SKU, nothing stays reserved, and sold grew by exactly the
    units of the confirmed orders. Before/after: holds only without other traffic."""
    old, new = _by_sku(before), _by_sku(after)
    skus = sorted(set(old) | set(new) | set(confirmed))
    zero = inventory_client.StockLevel(sku="", available=0, on_hand=0, reserved=0, sold=0)
    pairs = [(sku, old.get(sku, zero), new.get(sku, zero)) for sku in skus]
    return [_conserved(pairs), _unreserved(pairs), _sold(pairs, confirmed)]


def _by_sku(levels: list[inventory_client.StockLevel]) -> dict[str, inventory_client.StockLevel]:
    return {level.sku: level for level in levels}


def _conserved(pairs: list[Pair]) -> Check:
    broken = [
        f"{sku}: on_hand {b.on_hand} != available {b.available} + reserved {b.reserved} + sold {b.sold}"
        for sku, _, b in pairs
        if b.on_hand != b.available + b.reserved + b.sold
    ]
    broken += [f"{sku}: on_hand {a.on_hand} -> {b.on_hand}" for sku, a, b in pairs if a.on_hand != b.on_hand]
    total = {
        name: sum(getattr(b, name) for _, _, b in pairs)
        for name in ("on_hand", "available", "reserved", "sold")
    }
    detail = (
        f"{len(pairs)} SKUs: on_hand {total['on_hand']} = available {total['available']} "
        f"+ reserved {total['reserved']} + sold {total['sold']}; "
        f"on_hand {sum(a.on_hand for _, a, _ in pairs)} before the run"
    )
    return Check("stock conserved", not broken, "; ".join(broken) if broken else detail)


def _unreserved(pairs: list[Pair]) -> Check:
    left = [
        f"{sku}: reserved {a.reserved} -> {b.reserved}" for sku, a, b in pairs if b.reserved != a.reserved
    ]
    before, after = sum(a.reserved for _, a, _ in pairs), sum(b.reserved for _, _, b in pairs)
    detail = f"reserved units {before} before, {after} after"
    return Check("nothing left reserved", not left, detail + ("; " + "; ".join(left) if left else ""))


def _sold(pairs: list[Pair], confirmed: Counter) -> Check:
    wrong = [
        f"{sku}: sold +{b.sold - a.sold}, confirmed orders hold {confirmed[sku]}"
        for sku, a, b in pairs
        if b.sold - a.sold != confirmed[sku]
    ]
    sold = sum(b.sold - a.sold for _, a, b in pairs)
    detail = f"sold +{sold} units, confirmed orders hold {sum(confirmed.values())} units"
    return Check(
        "sold = units of confirmed orders", not wrong, detail + ("; " + "; ".join(wrong) if wrong else "")
    )


def check_money(
    money: payments_client.PaymentSummary, *, accepted: int, confirmed: int, confirmed_cents: int
) -> list[Check]:
    """For this run's orders: every authorisation ended captured, voided or refunded (none
    left open, and every accepted order had one); captures are the confirmed orders."""
    settled = money.captured.count + money.voided.count + money.refunded.count
    authorisations = settled + money.authorized.count  # a payment not declined was authorised
    settled_detail = (
        f"{authorisations} authorisations = {money.captured.count} captured + {money.voided.count} voided "
        f"+ {money.refunded.count} refunded, {money.authorized.count} still authorised; "
        f"{accepted} accepted orders (+{money.declined.count} declined cards, "
        f"{money.cancelled.count} cancelled before any authorisation)"
    )
    captures_detail = (
        f"{money.captured.count} captured for {money.captured.amount_cents} cents; "
        f"{confirmed} confirmed orders total {confirmed_cents} cents"
    )
    return [
        Check(
            "authorisations = captures + voids + refunds",
            money.authorized.count == 0 and authorisations >= accepted,
            settled_detail,
        ),
        Check(
            "captures = confirmed orders",
            money.captured.count == confirmed and money.captured.amount_cents == confirmed_cents,
            captures_detail,
        ),
    ]


# --- text ----------------------------------------------------------------------------------


def render(report: Report) -> str:
    """The report as text for a terminal."""
    lines = [
        f"Simulated {report.orders} checkouts against {report.url} "
        f"(concurrency {report.concurrency}, seed {report.seed}, faults: {report.scenario or 'as set'})",
        "checkouts answered: " + ", ".join(f"{code} × {n}" for code, n in report.answers.items()),
        f"orders: {report.confirmed} confirmed, {sum(report.failed_by_reason.values())} failed",
        *[f"  failed: {n} × {reason}" for reason, n in report.failed_by_reason.items()],
        f"checkout latency:     {_percentiles(report.checkout_ms)}",
        f"time to confirmation: {_percentiles(report.confirmation_ms)}  (created → confirmed, shop clock)",
        f"throughput: {_rate(report.confirmed_per_second)} confirmed orders/s (first order created → last "
        f"confirmed); checkouts took {report.checkout_seconds:.1f} s, waiting {report.wait_seconds:.1f} s",
        "slowest checkouts:",
        *[_row_text(row) for row in report.slowest],
        *_listing("failed orders", report.failed),
        *_listing("stuck orders (not terminal before the timeout)", report.stuck),
        *_listing("errors (5xx, other 4xx, no answer)", report.errors),
        "invariants:",
        *[f"  {'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in report.checks],
        "result: " + ("PASS" if report.passed else "FAIL (an invariant broke)"),
    ]
    return "\n".join(lines) + "\n"


def _percentiles(values: dict[str, float | None]) -> str:
    return "  ".join(f"{name} {'-' if ms is None else f'{ms:.0f} ms'}" for name, ms in values.items())


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _listing(title: str, rows: list[OrderRow]) -> list[str]:
    if not rows:
        return []
    more = [f"  … and {len(rows) - LISTED} more (all in --json)"] if len(rows) > LISTED else []
    return [f"{title} ({len(rows)}):", *[_row_text(row) for row in rows[:LISTED]], *more]


def _row_text(row: OrderRow) -> str:
    took = "-" if row.checkout_ms is None else f"{row.checkout_ms:.0f} ms"
    what = row.error or row.reason or row.status
    status = row.http_status or "---"
    return f"  {took:>8}  {status}  {row.order_id or '-':36}  trace {row.trace_id or '-':32}  {what}"
