"""How other apps reach inventory: typed REST calls and the tasks inventory's worker runs for
them (a ``TaskMessage`` by name; the caller publishes it). The only import they may make."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from core.service_client import call
from core.tasks import TaskMessage
from instrumentation import names
from inventory.errors import InsufficientStock, ReservationNotFound, UnknownSku

ERRORS = (InsufficientStock, ReservationNotFound, UnknownSku)


@dataclass(frozen=True)
class StockLevel:
    """One SKU's units: on_hand = available + reserved + sold."""

    sku: str
    available: int
    on_hand: int
    reserved: int
    sold: int


@dataclass(frozen=True)
class ReservationInfo:
    order_id: str
    status: str


def _url(path: str) -> str:
    return f"{settings.INVENTORY_BASE_URL}/api/inventory/{path}"


def stock_list(*, skus: list[str] | None = None) -> list[StockLevel]:
    rows = call("GET", _url("stock/"), params={"sku": skus or []}, errors=ERRORS)
    return [
        StockLevel(
            sku=row["sku"],
            available=row["available"],
            on_hand=row["on_hand"],
            reserved=row["reserved"],
            sold=row["sold"],
        )
        for row in rows
    ]


def reservation_create(*, order_id: uuid.UUID | str, items: list[tuple[str, int]]) -> ReservationInfo:
    body = {"order_id": str(order_id), "items": [{"sku": sku, "quantity": qty} for sku, qty in items]}
    return _info(call("POST", _url("reservations/"), json=body, errors=ERRORS))


def reservation_commit(*, order_id: uuid.UUID) -> ReservationInfo:
    return _info(call("POST", _url(f"reservations/{order_id}/commit/"), errors=ERRORS))


def reservations_expire() -> int:
    """Release held reservations past their expiry; how many were released."""
    return call("POST", _url("reservations/expire/"), errors=ERRORS)["released"]


def reservation_release(*, order_id: uuid.UUID) -> ReservationInfo:
    return _info(call("POST", _url(f"reservations/{order_id}/release/"), errors=ERRORS))


def reservation_release_task(*, order_id: uuid.UUID | str) -> TaskMessage:
    """Ask inventory's worker to give the order's units back, as ``reservation_release``
    does over REST, retried on inventory's queue; it reports what it left to orders
    (``orders.record_undo``, step ``stock``)."""
    return TaskMessage(
        names.STOCK_RELEASE_TASK, {"order_id": str(order_id), "idempotency_key": f"release-{order_id}"}
    )


def reservation_commit_task(*, order_id: uuid.UUID | str) -> TaskMessage:
    """Ask inventory's worker to turn the order's held units into sold ones, retried on
    inventory's queue; it reports the outcome to orders (``orders.record_step``, step
    ``commit``)."""
    return TaskMessage(
        names.STOCK_COMMIT_TASK, {"order_id": str(order_id), "idempotency_key": f"commit-{order_id}"}
    )


def _info(body: dict) -> ReservationInfo:
    return ReservationInfo(order_id=body["order_id"], status=body["status"])
