"""The fault flags there are, what each means and its bounds, and named scenarios."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    help: str
    default: float = 0.0
    maximum: float = 1.0  # rates are probabilities 0..1; durations have their own cap
    unit: str = "rate"


def _rate(name: str, help: str) -> Fault:
    return Fault(name, help)


def _duration(name: str, help: str, unit: str, maximum: float, default: float = 0.0) -> Fault:
    return Fault(name, help, default=default, maximum=maximum, unit=unit)


FAULTS = {
    fault.name: fault
    for fault in [
        _rate("payment_decline", "share of card authorisations the gateway declines"),
        _duration("gateway_latency", "delay of every card gateway call", "ms", 30_000),
        _rate("payments_unreachable", "share of calls to payments sent to an address that refuses"),
        _rate("inventory_shortage", "share of reservations refused as out of stock"),
        _duration("inventory_latency", "delay of every inventory reservation call", "ms", 30_000),
        _rate("order_db_timeout", "share of order confirmation writes (worker) that time out"),
        _rate("order_place_db_timeout", "share of order placement writes (checkout) that time out"),
        _duration(
            "order_db_stall", "how long the database stalls before the timeout fires", "seconds", 10, 0.5
        ),
        _rate("inventory_unavailable", "share of reservation calls inventory sheds with HTTP 503"),
        _duration("catalogue_slow_query", "extra time the checkout's catalogue query takes", "ms", 30_000),
        _rate("catalogue_n_plus_one", "share of product list reads made one query per product"),
        _rate("email_failure", "share of customer emails the mail server refuses"),
        _rate("worker_crash", "share of finalize runs whose worker process is killed midway"),
        _rate(
            "step_worker_crash",
            "share of confirmation steps (payments' capture, inventory's commit) killed before they report",
        ),
        _rate(
            "undo_worker_crash",
            "share of undo runs (payments' void, inventory's release) killed before they report",
        ),
        # The web process running a checkout, killed between two of its steps (issue 14).
        _rate("web_crash_after_create", "share of checkouts whose web process is killed after create"),
        _rate("web_crash_after_reserve", "share of checkouts whose web process is killed after reserve"),
        _rate("web_crash_after_authorise", "share of checkouts whose web process is killed after authorise"),
        _rate("web_crash_after_place", "share of checkouts whose web process is killed after place"),
    ]
}

SCENARIOS = {
    "calm": {},
    # The motivating incident: some declines and shortages, and the order save times out.
    "incident": {"payment_decline": 0.05, "inventory_shortage": 0.1, "order_db_timeout": 0.3},
}
