"""The Celery app. Its worker processes set up tracing when each child starts, and keep
their database connections across task runs as Django keeps them across requests."""

import os
import warnings

from celery import Celery, Task
from celery.signals import (
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)
from django.db import close_old_connections

from config import broker_compat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
broker_compat.install()  # a worker survives its broker going away with tasks in hand

app = Celery("threadline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def _start_tracing(**_: object) -> None:
    from instrumentation.setup import configure_for_worker

    configure_for_worker()


@worker_process_shutdown.connect(weak=False)
def _flush_tracing(**_: object) -> None:
    # A recycled or stopping child must hand over its batched spans before it exits.
    from instrumentation.setup import shutdown

    shutdown()


def _database_connections_as_for_a_request(sender: Task | None = None, **_: object) -> None:
    """Before and after each task run, what Django does around a request: close the
    connections past ``CONN_MAX_AGE`` or broken (the health check finds a connection a
    database restart killed), keep the others. Celery's Django fixup would close every
    connection around every run instead (settings: ``CELERY_DB_REUSE_MAX``), a new
    PostgreSQL connection for each of an order's six task runs. An eager run (a test) is
    left alone, as the fixup leaves it: it runs inside its caller's transaction."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()


task_prerun.connect(_database_connections_as_for_a_request, weak=False)
task_postrun.connect(_database_connections_as_for_a_request, weak=False)


# Celery's notice that a default will change, printed (8 lines) at every broker connection
# loss although the setting is chosen (settings: CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_...).
CANCEL_NOTICE = r"\s*In Celery 5.1 we introduced an optional breaking change"


@celeryd_after_setup.connect(weak=False)
def _quiet_the_chosen_default_notice(**_: object) -> None:
    # Celery's logging setup puts its deprecation notices back to "always" after the
    # settings were read, which undid a filter there. This signal comes after that setup
    # and before the worker first connects: a broker lost while the worker is still
    # starting (before "ready") finds the filter in place too.
    warnings.filterwarnings("ignore", message=CANCEL_NOTICE)
