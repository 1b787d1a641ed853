"""Inventory's services against the database: reservations are all-or-nothing,
idempotent per order, and every unit stays accounted for."""

from __future__ import annotations

import uuid

import pytest
from django.db.models import Sum

from inventory import services
from inventory.errors import InsufficientStock, ReservationNotFound, UnknownSku
from inventory.models import Reservation, ReservationLine, StockItem

pytestmark = pytest.mark.django_db

MOUSE, KEYBOARD = "MOUSE-WIRELESS", "KEYBOARD-MECH"


@pytest.fixture
def stock() -> dict[str, int]:
    """Two SKUs with known stock: 10 mice, 3 keyboards."""
    services.stock_receive(sku=MOUSE, quantity=10)
    services.stock_receive(sku=KEYBOARD, quantity=3)
    return {MOUSE: 10, KEYBOARD: 3}


def levels(sku: str) -> tuple[int, int, int]:
    """(available, reserved, sold) for a SKU, with the conservation law checked:
    every unit received is available, held by a held reservation or sold by a committed one."""
    item = StockItem.objects.get(sku=sku)
    held = _lines(sku, Reservation.Status.HELD)
    committed = _lines(sku, Reservation.Status.COMMITTED)
    assert (item.reserved, item.sold) == (held, committed), "counters disagree with the reservations"
    assert item.available >= 0
    return item.available, item.reserved, item.sold


def _lines(sku: str, status: str) -> int:
    lines = ReservationLine.objects.filter(sku=sku, reservation__status=status)
    return lines.aggregate(total=Sum("quantity"))["total"] or 0


def test_reserve_holds_every_line_and_repeated_skus_are_merged(stock):
    """A reservation holds each line's units; the same SKU twice is one line of the sum."""
    order_id = uuid.uuid4()
    reservation = services.reservation_create(
        order_id=order_id, items=[(MOUSE, 2), (KEYBOARD, 1), (MOUSE, 1)]
    )
    assert reservation.status == Reservation.Status.HELD
    assert sorted(reservation.lines.values_list("sku", "quantity")) == [(KEYBOARD, 1), (MOUSE, 3)]
    assert levels(MOUSE) == (7, 3, 0)
    assert levels(KEYBOARD) == (2, 1, 0)


def test_reserve_is_all_or_nothing_when_one_line_is_short(stock):
    """One short line refuses the whole reservation: no SKU keeps any held units."""
    with pytest.raises(InsufficientStock) as refused:
        services.reservation_create(order_id=uuid.uuid4(), items=[(MOUSE, 2), (KEYBOARD, 4)])
    assert refused.value.extra == {"skus": [KEYBOARD]}
    assert not Reservation.objects.exists()
    assert levels(MOUSE) == (10, 0, 0)
    assert levels(KEYBOARD) == (3, 0, 0)


def test_reserve_can_take_the_last_unit_but_not_one_more(stock):
    """Exactly the available units can be reserved; the next unit is refused."""
    services.reservation_create(order_id=uuid.uuid4(), items=[(KEYBOARD, 3)])
    with pytest.raises(InsufficientStock):
        services.reservation_create(order_id=uuid.uuid4(), items=[(KEYBOARD, 1)])
    assert levels(KEYBOARD) == (0, 3, 0)


def test_reserve_of_an_unknown_sku_reserves_nothing(stock):
    """An unknown SKU raises UnknownSku, and the lines before it are not held either."""
    with pytest.raises(UnknownSku) as refused:
        services.reservation_create(order_id=uuid.uuid4(), items=[(MOUSE, 1), ("NO-SUCH-SKU", 1)])
    assert refused.value.extra == {"sku": "NO-SUCH-SKU"}
    assert not Reservation.objects.exists()
    assert levels(MOUSE) == (10, 0, 0)


def test_repeating_a_reservation_for_the_same_order_returns_the_first(stock):
    """The second call for an order returns the first reservation and holds nothing more,
    even if its basket differs."""
    order_id = uuid.uuid4()
    first = services.reservation_create(order_id=order_id, items=[(MOUSE, 2)])
    again = services.reservation_create(order_id=order_id, items=[(MOUSE, 5), (KEYBOARD, 1)])
    assert again.pk == first.pk
    assert Reservation.objects.count() == 1
    assert levels(MOUSE) == (8, 2, 0)
    assert levels(KEYBOARD) == (3, 0, 0)


def test_commit_moves_held_units_to_sold_once(stock):
    """Commit turns reserved units into sold units; a second commit changes nothing."""
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[(MOUSE, 2), (KEYBOARD, 1)])
    assert services.reservation_commit(order_id=order_id).status == Reservation.Status.COMMITTED
    assert levels(MOUSE) == (8, 0, 2)
    assert services.reservation_commit(order_id=order_id).status == Reservation.Status.COMMITTED
    assert levels(MOUSE) == (8, 0, 2)
    assert levels(KEYBOARD) == (2, 0, 1)


def test_commit_without_a_reservation_is_not_found(stock):
    """Committing an order that never reserved raises ReservationNotFound."""
    with pytest.raises(ReservationNotFound):
        services.reservation_commit(order_id=uuid.uuid4())


def test_commit_after_release_is_refused(stock):
    """A released reservation cannot be committed: its units were given back."""
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[(MOUSE, 2)])
    services.reservation_release(order_id=order_id)
    with pytest.raises(ReservationNotFound):
        services.reservation_commit(order_id=order_id)
    assert levels(MOUSE) == (10, 0, 0)


def test_release_of_held_stock_gives_the_units_back(stock):
    """Releasing a held reservation returns its units to available."""
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[(MOUSE, 4)])
    released = services.reservation_release(order_id=order_id)
    assert released is not None and released.status == Reservation.Status.RELEASED
    assert levels(MOUSE) == (10, 0, 0)


def test_release_of_committed_stock_gives_the_sold_units_back(stock):
    """Releasing a committed reservation takes its units out of sold and back to available."""
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[(MOUSE, 4), (KEYBOARD, 2)])
    services.reservation_commit(order_id=order_id)
    services.reservation_release(order_id=order_id)
    assert levels(MOUSE) == (10, 0, 0)
    assert levels(KEYBOARD) == (3, 0, 0)


def test_releasing_twice_changes_nothing(stock):
    """The second release returns the released reservation and gives back nothing more."""
    order_id = uuid.uuid4()
    other = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[(MOUSE, 4)])
    services.reservation_create(order_id=other, items=[(MOUSE, 1)])
    services.reservation_release(order_id=order_id)
    again = services.reservation_release(order_id=order_id)
    assert again is not None and again.status == Reservation.Status.RELEASED
    assert levels(MOUSE) == (9, 1, 0)


def test_release_of_an_order_that_never_reserved_returns_none(stock):
    """Releasing an order with no reservation is a no-op that returns None."""
    assert services.reservation_release(order_id=uuid.uuid4()) is None
    assert levels(MOUSE) == (10, 0, 0)


def test_a_released_order_cannot_reserve_again(stock):
    """Reserving again for a released order returns the released reservation, holding nothing."""
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[(MOUSE, 2)])
    services.reservation_release(order_id=order_id)
    again = services.reservation_create(order_id=order_id, items=[(MOUSE, 2)])
    assert again.status == Reservation.Status.RELEASED
    assert levels(MOUSE) == (10, 0, 0)


def test_inventory_shortage_fault_refuses_and_reserves_nothing(stock, faults):
    """With the inventory_shortage fault at 1.0 every reservation is refused as out of stock."""
    faults({"inventory_shortage": 1.0})
    with pytest.raises(InsufficientStock) as refused:
        services.reservation_create(order_id=uuid.uuid4(), items=[(MOUSE, 1)])
    assert "injected fault" in refused.value.message
    assert not Reservation.objects.exists()
    assert levels(MOUSE) == (10, 0, 0)


def test_stock_receive_adds_units_and_creates_unknown_skus(stock):
    """Receiving adds to on_hand; a new SKU gets a stock item."""
    assert services.stock_receive(sku=MOUSE, quantity=5).on_hand == 15
    assert services.stock_receive(sku="NEW-SKU", quantity=2).available == 2
