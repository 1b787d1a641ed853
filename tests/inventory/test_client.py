"""Inventory's client against inventory's real REST API (a live server): answers come
back as frozen dataclasses and error codes come back as inventory's own classes."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest

from instrumentation import attributes, names
from inventory import client
from inventory.errors import InsufficientStock, ReservationNotFound, UnknownSku
from inventory.models import StockItem

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

MOUSE, LAPTOP = "MOUSE-WIRELESS", "LAPTOP-GAMING-15"  # 200 and 25 units in the demo catalogue


def available(sku: str) -> int:
    return StockItem.objects.get(sku=sku).available


def test_stock_list_returns_levels_for_the_asked_skus(services_url, catalogue):
    """stock_list answers the units of the SKUs asked for (available, on hand, reserved,
    sold), sorted by SKU."""
    client.reservation_create(order_id=uuid.uuid4(), items=[(LAPTOP, 2)])
    levels = client.stock_list(skus=[MOUSE, LAPTOP])
    assert levels == [
        client.StockLevel(sku=LAPTOP, available=23, on_hand=25, reserved=2, sold=0),
        client.StockLevel(sku=MOUSE, available=200, on_hand=200, reserved=0, sold=0),
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        levels[0].available = 0  # type: ignore[misc]  # the point: frozen refuses it


def test_stock_list_without_skus_lists_every_item(services_url, catalogue):
    """Without a filter every stock item is listed."""
    assert len(client.stock_list()) == StockItem.objects.count() == 8


def test_reservation_create_holds_the_stock(services_url, catalogue):
    """A reservation made through the API is held and the units leave available."""
    order_id = uuid.uuid4()
    info = client.reservation_create(order_id=order_id, items=[(MOUSE, 2), (LAPTOP, 1)])
    assert info == client.ReservationInfo(order_id=str(order_id), status="held")
    assert (available(MOUSE), available(LAPTOP)) == (198, 24)


def test_reservation_create_repeated_returns_the_first(services_url, catalogue):
    """A retried reservation call holds nothing more."""
    order_id = uuid.uuid4()
    client.reservation_create(order_id=order_id, items=[(MOUSE, 2)])
    assert client.reservation_create(order_id=order_id, items=[(MOUSE, 2)]).status == "held"
    assert available(MOUSE) == 198


def test_short_stock_raises_insufficient_stock_with_the_short_skus(services_url, catalogue):
    """409 insufficient_stock round-trips as InsufficientStock naming the short SKUs; nothing is held."""
    with pytest.raises(InsufficientStock) as refused:
        client.reservation_create(order_id=uuid.uuid4(), items=[(MOUSE, 1), (LAPTOP, 26)])
    assert refused.value.extra == {"skus": [LAPTOP]}
    assert (available(MOUSE), available(LAPTOP)) == (200, 25)


def test_unknown_sku_raises_unknown_sku(services_url, catalogue):
    """400 unknown_sku round-trips as UnknownSku."""
    with pytest.raises(UnknownSku):
        client.reservation_create(order_id=uuid.uuid4(), items=[("NO-SUCH-SKU", 1)])
    assert available(MOUSE) == 200


def test_commit_and_release_report_the_reservation_status(services_url, catalogue):
    """Commit answers committed; release of a committed reservation answers released
    and gives the units back."""
    order_id = uuid.uuid4()
    client.reservation_create(order_id=order_id, items=[(LAPTOP, 3)])
    assert client.reservation_commit(order_id=order_id).status == "committed"
    assert available(LAPTOP) == 22
    assert client.reservation_release(order_id=order_id).status == "released"
    assert client.reservation_release(order_id=order_id).status == "released"
    assert available(LAPTOP) == 25


def test_a_release_says_on_its_span_whether_it_gave_units_back(services_url, catalogue, spans):
    """The release request's server span carries ``order.undo.outcome``: ``released`` for a
    reservation given back, ``none`` for an order that never reserved, so the diagnosis of
    an undone checkout names only what happened."""
    reserved, never = uuid.uuid4(), uuid.uuid4()
    client.reservation_create(order_id=reserved, items=[(LAPTOP, 1)])
    client.reservation_release(order_id=reserved)
    assert client.reservation_release(order_id=never).status == "none"
    releases = [
        span
        for span in spans.get_finished_spans()
        if span.kind.name == "SERVER" and span.name.endswith(names.STOCK_RELEASE_ROUTE)
    ]
    assert [span.attributes.get(attributes.UNDO_OUTCOME) for span in releases] == ["released", "none"]


def test_commit_without_a_reservation_raises_reservation_not_found(services_url, catalogue):
    """404 reservation_not_found round-trips as ReservationNotFound."""
    with pytest.raises(ReservationNotFound):
        client.reservation_commit(order_id=uuid.uuid4())


def test_release_without_a_reservation_answers_none(services_url, catalogue):
    """Releasing an order that never reserved is a no-op answered with status "none"."""
    order_id = uuid.uuid4()
    assert client.reservation_release(order_id=order_id) == client.ReservationInfo(str(order_id), "none")


def test_inventory_shortage_fault_is_seen_by_the_api(services_url, catalogue, faults):
    """The inventory_shortage fault set in this process refuses reservations made over REST."""
    faults({"inventory_shortage": 1.0})
    with pytest.raises(InsufficientStock):
        client.reservation_create(order_id=uuid.uuid4(), items=[(MOUSE, 1)])
    assert available(MOUSE) == 200


def test_inventory_latency_fault_delays_the_reservation_call(services_url, catalogue, faults):
    """inventory_latency delays a reservation made over REST; the stock list is not delayed."""
    faults({"inventory_latency": 300})
    started = time.monotonic()
    client.reservation_create(order_id=uuid.uuid4(), items=[(MOUSE, 1)])
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    client.stock_list()
    assert time.monotonic() - started < 0.3
