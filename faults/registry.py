"""The fault flags there are, what each means and its bounds, and named scenarios."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    help: str
    default: float = 0.0
    maximum: float = 1.0  # rates are probabilities 0..1; durations have their own cap
    unit: str = "rate"


FAULTS = {
    fault.name: fault
    for fault in [
        Fault("payment_decline", "share of card authorisations the gateway declines"),
        Fault("inventory_shortage", "share of reservations refused as out of stock"),
        Fault("order_db_timeout", "share of order confirmation writes that hit a database timeout"),
        Fault(
            "order_db_stall",
            "how long the database stalls before the timeout fires",
            default=0.5,
            maximum=30.0,
            unit="seconds",
        ),
    ]
}

SCENARIOS = {
    "calm": {},
    "incident": {"payment_decline": 0.05, "inventory_shortage": 0.1, "order_db_timeout": 0.3},
}
