"""The Celery app. Its worker processes set up tracing when each child starts."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

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
