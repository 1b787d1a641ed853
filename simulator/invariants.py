"""What must hold after a simulated run, whatever the faults: every order terminal, none
lost, stock conserved, and money settled. Each check returns a ``Check`` with the numbers
it compared, so a FAIL says what broke.

The money checks are scoped to the run's order ids, so other traffic cannot disturb them.
The stock API has no per-order view, so the stock checks compare before and after the
run: they hold only when nothing else moves stock meanwhile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from inventory import client as inventory_client
from payments import client as payments_client
from simulator.driver import TERMINAL, Attempt, RunResult

LISTED = 20  # order ids named in a text (the JSON report has them all)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def check_all(result: RunResult, timeout: float) -> list[Check]:
    """Every invariant, in the order the report lists them."""
    attempts = result.attempts
    confirmed = [a for a in attempts if a.status == "confirmed"]
    return [
        check_terminal(attempts, timeout),
        check_none_lost(attempts),
        *check_stock(result.stock_before, result.stock_after, confirmed_units(attempts)),
        *check_money(
            result.money,
            accepted=sum(a.http_status == 202 for a in attempts),
            confirmed=len(confirmed),
            confirmed_cents=sum(a.total_cents for a in confirmed),
        ),
    ]


# --- orders --------------------------------------------------------------------------------


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


# --- stock ---------------------------------------------------------------------------------

Pair = tuple[str, inventory_client.StockLevel, inventory_client.StockLevel]  # SKU, before, after


def confirmed_units(attempts: list[Attempt]) -> Counter:
    """Units per SKU in the baskets of the orders that were confirmed."""
    units: Counter[str] = Counter()
    for attempt in attempts:
        if attempt.status == "confirmed":
            for line in attempt.basket:
                units[line.sku] += line.quantity
    return units


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
    return Check("stock conserved", not broken, "; ".join(broken) if broken else _units_after(pairs))


def _units_after(pairs: list[Pair]) -> str:
    total = {
        name: sum(getattr(b, name) for _, _, b in pairs)
        for name in ("on_hand", "available", "reserved", "sold")
    }
    return (
        f"{len(pairs)} SKUs: on_hand {total['on_hand']} = available {total['available']} "
        f"+ reserved {total['reserved']} + sold {total['sold']}; "
        f"on_hand {sum(a.on_hand for _, a, _ in pairs)} before the run"
    )


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


# --- money ---------------------------------------------------------------------------------


def check_money(
    money: payments_client.PaymentSummary, *, accepted: int, confirmed: int, confirmed_cents: int
) -> list[Check]:
    """For this run's orders: every authorisation ended captured, voided or refunded (none
    left open, and every accepted order had one); captures are the confirmed orders."""
    return [_settled(money, accepted), _captures(money, confirmed, confirmed_cents)]


def _settled(money: payments_client.PaymentSummary, accepted: int) -> Check:
    settled = money.captured.count + money.voided.count + money.refunded.count
    authorisations = settled + money.authorized.count  # a payment not declined was authorised
    detail = (
        f"{authorisations} authorisations = {money.captured.count} captured + {money.voided.count} voided "
        f"+ {money.refunded.count} refunded, {money.authorized.count} still authorised; "
        f"{accepted} accepted orders (+{money.declined.count} declined cards, "
        f"{money.cancelled.count} cancelled before any authorisation)"
    )
    passed = money.authorized.count == 0 and authorisations >= accepted
    return Check("authorisations = captures + voids + refunds", passed, detail)


def _captures(money: payments_client.PaymentSummary, confirmed: int, confirmed_cents: int) -> Check:
    detail = (
        f"{money.captured.count} captured for {money.captured.amount_cents} cents; "
        f"{confirmed} confirmed orders total {confirmed_cents} cents"
    )
    passed = money.captured.count == confirmed and money.captured.amount_cents == confirmed_cents
    return Check("captures = confirmed orders", passed, detail)
