"""Inventory writes: reserve, commit and release stock, each idempotent per order."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from faults.services import fault_fires
from inventory.errors import InsufficientStock, ReservationNotFound, UnknownSku
from inventory.models import Reservation, ReservationLine, StockItem

Status = Reservation.Status


def reservation_create(*, order_id: uuid.UUID, items: list[tuple[str, int]]) -> Reservation:
    """Reserve every line or none. A second call for the same order returns the first,
    also when the two race (the loser's holds roll back with its failed insert)."""
    existing = Reservation.objects.filter(order_id=order_id).first()
    if existing is not None:
        return existing
    try:
        return _reserve(order_id, items)
    except IntegrityError:
        return Reservation.objects.get(order_id=order_id)


@transaction.atomic
def _reserve(order_id: uuid.UUID, items: list[tuple[str, int]]) -> Reservation:
    wanted: Counter[str] = Counter()
    for sku, quantity in items:
        wanted[sku] += quantity
    if fault_fires("inventory_shortage"):
        raise InsufficientStock("Out of stock (injected fault).", extra={"skus": sorted(wanted)})
    short = [sku for sku, quantity in sorted(wanted.items()) if not _hold(sku, quantity)]
    if short:
        transaction.set_rollback(True)
        raise InsufficientStock(f"Not enough stock for {', '.join(short)}.", extra={"skus": short})
    expires_at = timezone.now() + timedelta(seconds=settings.INVENTORY_RESERVATION_TTL)
    reservation = Reservation.objects.create(order_id=order_id, expires_at=expires_at)
    ReservationLine.objects.bulk_create(
        ReservationLine(reservation=reservation, sku=sku, quantity=quantity)
        for sku, quantity in wanted.items()
    )
    return reservation


def _hold(sku: str, quantity: int) -> bool:
    """Atomic conditional update: hold units only if that many are available."""
    if not StockItem.objects.filter(sku=sku).exists():
        raise UnknownSku(f"No stock is kept for SKU {sku!r}.", extra={"sku": sku})
    return bool(
        StockItem.objects.filter(sku=sku, on_hand__gte=F("reserved") + F("sold") + quantity).update(
            reserved=F("reserved") + quantity
        )
    )


@transaction.atomic
def reservation_commit(*, order_id: uuid.UUID) -> Reservation:
    """Turn held units into sold units. Committing twice changes nothing."""
    reservation = _locked(order_id)
    if reservation.status == Status.HELD:
        for line in reservation.lines.order_by("sku"):  # one lock order everywhere: no deadlock
            StockItem.objects.filter(sku=line.sku).update(
                reserved=F("reserved") - line.quantity, sold=F("sold") + line.quantity
            )
        reservation.status = Status.COMMITTED
        reservation.save(update_fields=["status", "updated_at"])
    elif reservation.status == Status.RELEASED:
        raise ReservationNotFound(f"The reservation for order {order_id} was already released.")
    return reservation


@transaction.atomic
def reservation_release(*, order_id: uuid.UUID, only_held: bool = False) -> Reservation | None:
    """Give the units back, whether held or already sold. Releasing twice changes nothing;
    releasing an order that never reserved returns None. ``only_held`` leaves a
    reservation that was committed meanwhile alone (expiry racing a commit)."""
    reservation = Reservation.objects.filter(order_id=order_id).first()
    if reservation is None:
        return None
    reservation = _locked(order_id)
    if only_held and reservation.status != Status.HELD:
        return None
    # Keyed by str: the status field reads as a plain str, which equals its Status member.
    stock_fields: dict[str, str] = {Status.HELD: "reserved", Status.COMMITTED: "sold"}
    field = stock_fields.get(reservation.status)
    if field:
        for line in reservation.lines.order_by("sku"):  # one lock order everywhere: no deadlock
            StockItem.objects.filter(sku=line.sku).update(**{field: F(field) - line.quantity})
        reservation.status = Status.RELEASED
        reservation.save(update_fields=["status", "updated_at"])
    return reservation


def reservations_expire(*, now: datetime | None = None) -> int:
    """Release held reservations past their expiry (an order that never finished);
    returns how many. Each release is the idempotent one above."""
    now = now or timezone.now()
    expired = Reservation.objects.filter(status=Status.HELD, expires_at__lt=now).values_list(
        "order_id", flat=True
    )
    return sum(1 for order_id in list(expired) if reservation_release(order_id=order_id, only_held=True))


def _locked(order_id: uuid.UUID) -> Reservation:
    try:
        return Reservation.objects.select_for_update().get(order_id=order_id)
    except Reservation.DoesNotExist:
        raise ReservationNotFound(f"No reservation for order {order_id}.") from None


@transaction.atomic
def stock_receive(*, sku: str, quantity: int) -> StockItem:
    """Add received units (used by the demo seed and the admin)."""
    item, _ = StockItem.objects.get_or_create(sku=sku, defaults={"on_hand": 0})
    StockItem.objects.filter(pk=item.pk).update(on_hand=F("on_hand") + quantity)
    item.refresh_from_db()
    return item
