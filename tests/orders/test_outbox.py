"""The transactional outbox: a row written with the state change is published after commit,
once; what the broker refused stays for reconcile, with the error."""

from __future__ import annotations

import datetime
import time

import pytest
from celery import current_app
from django.db import transaction
from django.utils import timezone

from devstack.broker import PrivateRedis
from orders import outbox
from orders.models import Order, OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def order() -> Order:
    return Order.objects.create(email="ada@example.com", total_cents=100)


def test_enqueue_publishes_only_after_commit(order, django_capture_on_commit_callbacks):
    """The row is written at once; the task is published by the commit hook, which marks it delivered."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            message = outbox.outbox_enqueue(order=order, task_name="orders.finalize_order", kwargs={"x": 1})
            assert OutboxMessage.objects.get().delivered_at is None
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert message.delivered_at is not None and message.attempts == 1


def test_a_delivered_message_is_not_published_again(order):
    """Delivering an already delivered row does nothing and reports False."""
    message = OutboxMessage.objects.create(order=order, task_name="orders.finalize_order")
    assert outbox.outbox_deliver(message_id=message.pk) is True
    assert outbox.outbox_deliver(message_id=message.pk) is False
    message.refresh_from_db()
    assert message.attempts == 1


def test_a_refused_publish_keeps_the_row_with_the_error(order, monkeypatch):
    """When the broker refuses, the row stays undelivered, counting the attempt and the error."""

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker is down")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    message = OutboxMessage.objects.create(order=order, task_name="orders.finalize_order")
    assert outbox.outbox_deliver(message_id=message.pk) is False
    message.refresh_from_db()
    assert (message.delivered_at, message.attempts, message.last_error) == (None, 1, "broker is down")


def test_pending_lists_undelivered_rows_older_than_the_cutoff_oldest_first(order):
    """Only undelivered rows older than the cutoff are pending, oldest first."""
    now = timezone.now()
    old, older, fresh, delivered = (
        OutboxMessage.objects.create(order=order, task_name="t") for _ in range(4)
    )
    for message, age in [(old, 10), (older, 20), (fresh, 1), (delivered, 30)]:
        OutboxMessage.objects.filter(pk=message.pk).update(created_at=now - datetime.timedelta(seconds=age))
    OutboxMessage.objects.filter(pk=delivered.pk).update(delivered_at=now)
    assert outbox.outbox_pending(older_than_seconds=5) == [older.pk, old.pk]


def test_the_brokers_start_is_read_from_redis_and_unknown_without_it(monkeypatch):
    """Redis says how long it has been up (in whole seconds); restarted, it says so
    afresh. A broker that is not Redis, or none at all, gives no start time."""
    redis = PrivateRedis()
    try:
        monkeypatch.setattr(current_app.conf, "broker_url", redis.url)
        # Whole seconds: both readings may be a second early or late, so the restart comes
        # over two seconds after the first start, and the second reading is later whatever
        # the rounding.
        time.sleep(2.5)
        started = outbox.broker_started_at()
        assert started is not None and timezone.now() - started < datetime.timedelta(seconds=60)
        redis.crash()
        redis.start()
        again = outbox.broker_started_at()
        assert again is not None and again > started
    finally:
        redis.stop()
    assert outbox.broker_started_at() is None  # stopped: nothing known
    monkeypatch.setattr(current_app.conf, "broker_url", "memory://")
    assert outbox.broker_started_at() is None
