"""Which queue a task travels on: one per app that owns tasks (orders, payments, inventory),
named after the copy's queue prefix, so a deployment can run one worker pool per queue and
two copies of the shop on one Redis still never take each other's tasks.

A task's app is the first part of its name (``payments.cancel_payment`` is payments'); a task
of an app without a queue of its own (``shop.…``, ``telemetry.…``) stays on the prefix's own
queue, the default one. Read by the settings (``CELERY_TASK_QUEUES``, ``CELERY_TASK_ROUTES``)
and by whoever publishes or consumes by hand (the flow tests, the docs' ``-Q`` lines).
"""

from __future__ import annotations

from kombu.entity import Exchange, Queue

# The apps whose tasks run on a queue, and a worker service, of their own.
TASK_APPS = ("orders", "payments", "inventory")


def app_queue(prefix: str, app: str) -> str:
    """The queue of ``app``'s tasks in the copy whose queue prefix is ``prefix``."""
    return f"{prefix}.{app}"


def queue_for(task_name: str, prefix: str) -> str:
    """The queue ``task_name`` is routed to."""
    app = task_name.partition(".")[0]
    return app_queue(prefix, app) if app in TASK_APPS else prefix


def declared_queues(prefix: str) -> tuple[Queue, ...]:
    """Every queue of the copy, the default first. A worker started without ``-Q`` consumes
    them all (``make run``); a worker per app names its one queue with ``-Q``.

    Each queue has an exchange and a routing key of its own: queues sharing the default
    exchange and key would each receive a copy of every message."""
    names = (prefix, *(app_queue(prefix, app) for app in TASK_APPS))
    return tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in names)


def task_routes(prefix: str) -> dict[str, dict[str, str]]:
    """Celery's routes: a glob on the task name's app to that app's queue."""
    return {f"{app}.*": {"queue": app_queue(prefix, app)} for app in TASK_APPS}


def worker_services() -> dict[str, str]:
    """The service a task's run belongs to, by its name's prefix: ``orders-worker``, …"""
    return {f"{app}.": f"{app}-worker" for app in TASK_APPS}
