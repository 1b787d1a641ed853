"""Stock is conserved whatever happens, in any order: a Hypothesis state machine drives
reserve, commit, release, expire, receive and redelivered (repeated) calls against the
real services and database, and checks the books after every step."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from inventory import services
from inventory.errors import InsufficientStock, ReservationNotFound
from inventory.models import Reservation, ReservationLine, StockItem

SKUS = ["A", "B", "C"]


class StockBooks(RuleBasedStateMachine):
    """The model is only the law itself: for every SKU, on_hand = available + reserved +
    sold, with reserved and sold equal to the units of held and committed reservations."""

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        ReservationLine.objects.all().delete()
        Reservation.objects.all().delete()
        StockItem.objects.all().delete()
        for sku in SKUS:
            services.stock_receive(sku=sku, quantity=5)
        self.received = {sku: 5 for sku in SKUS}
        self.clock = timezone.now()

    @rule(
        target=orders,
        items=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 4)), min_size=1, max_size=3),
    )
    def reserve(self, items):
        order_id = uuid.uuid4()
        try:
            services.reservation_create(order_id=order_id, items=items)
        except InsufficientStock:
            assert not Reservation.objects.filter(order_id=order_id).exists()  # all or nothing
        return order_id

    @rule(order_id=orders)
    def redeliver_reserve(self, order_id):
        """A retried reservation call for the same order holds nothing more."""
        before = self._totals()
        if Reservation.objects.filter(order_id=order_id).exists():
            services.reservation_create(order_id=order_id, items=[("A", 1)])
            assert self._totals() == before

    @rule(order_id=orders, times=st.integers(1, 2))
    def commit(self, order_id, times):
        for _ in range(times):
            try:
                services.reservation_commit(order_id=order_id)
            except ReservationNotFound:
                pass

    @rule(order_id=orders, times=st.integers(1, 2))
    def release(self, order_id, times):
        for _ in range(times):
            services.reservation_release(order_id=order_id)

    @rule(minutes=st.integers(1, 60))
    def expire(self, minutes):
        self.clock += timedelta(minutes=minutes)
        services.reservations_expire(now=self.clock)
        assert not Reservation.objects.filter(status="held", expires_at__lt=self.clock).exists()

    @rule(sku=st.sampled_from(SKUS), quantity=st.integers(1, 3))
    def receive(self, sku, quantity):
        services.stock_receive(sku=sku, quantity=quantity)
        self.received[sku] += quantity

    @invariant()
    def books_balance(self):
        for item in StockItem.objects.all():
            held = self._units(item.sku, "held")
            committed = self._units(item.sku, "committed")
            assert item.on_hand == self.received[item.sku]
            assert (item.reserved, item.sold) == (held, committed)
            assert item.available >= 0

    def _units(self, sku: str, status: str) -> int:
        lines = ReservationLine.objects.filter(sku=sku, reservation__status=status)
        return lines.aggregate(units=Sum("quantity"))["units"] or 0

    def _totals(self) -> list[tuple[str, int, int, int]]:
        return list(StockItem.objects.order_by("sku").values_list("sku", "on_hand", "reserved", "sold"))


@pytest.mark.django_db
def test_stock_is_conserved_through_any_sequence_of_operations():
    """on_hand = available + reserved + sold after every step of every generated run."""
    run_state_machine_as_test(
        StockBooks,
        settings=settings(
            max_examples=30, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
