"""Each app's tasks travel on its own queue, named after the copy's prefix, and one worker
started without ``-Q`` consumes every queue."""

from __future__ import annotations

import pytest
from django.conf import settings

from config import queues
from config.celery import app

PREFIX = settings.CELERY_TASK_DEFAULT_QUEUE


def routed_queue(task_name: str) -> str:
    """The queue the project's Celery app publishes ``task_name`` to."""
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("orders.finalize_order", f"{PREFIX}.orders"),
        ("orders.reconcile", f"{PREFIX}.orders"),
        ("payments.purge_idempotency_keys", f"{PREFIX}.payments"),
        ("inventory.release_reservation", f"{PREFIX}.inventory"),
        ("shop.purge_idempotency_keys", PREFIX),
        ("telemetry.prune_traces", PREFIX),
    ],
)
def test_a_task_is_routed_to_its_apps_queue(task_name: str, queue: str):
    assert routed_queue(task_name) == queue
    assert queues.queue_for(task_name, PREFIX) == queue


def test_an_app_name_inside_another_name_is_not_that_app():
    assert queues.queue_for("ordersx.finalize", "p") == "p"
    assert queues.queue_for("shop.orders.finalize", "p") == "p"


def test_queue_names_follow_the_copys_prefix():
    """Two copies on one Redis (make run on two ports) never share a queue."""
    one = {queue.name for queue in queues.declared_queues("threadline-8000-aaaa")}
    two = {queue.name for queue in queues.declared_queues("threadline-8001-aaaa")}
    assert one == {
        "threadline-8000-aaaa",
        "threadline-8000-aaaa.orders",
        "threadline-8000-aaaa.payments",
        "threadline-8000-aaaa.inventory",
    }
    assert not one & two


def test_a_worker_without_q_consumes_every_queue():
    consumed = {queue.name for queue in app.amqp.queues.consume_from.values()}
    assert consumed == {queue.name for queue in queues.declared_queues(PREFIX)}


def test_each_queue_has_a_routing_key_of_its_own():
    """Queues bound to one exchange with one key would each get a copy of every message."""
    declared = queues.declared_queues("p")
    assert len({(queue.exchange.name, queue.routing_key) for queue in declared}) == len(declared)


def test_each_app_has_a_worker_service():
    assert queues.worker_services() == {
        "orders.": "orders-worker",
        "payments.": "payments-worker",
        "inventory.": "inventory-worker",
    }
