"""Telemetry's Celery tasks, run by beat: alert evaluation and the failure groups with their
new-group mail (every ``TELEMETRY_ALERT_INTERVAL``), pruning the store (every
``TELEMETRY_PRUNE_INTERVAL``) and, with ``TELEMETRY_TAIL_SAMPLING`` on, tail retention's
decisions (every third of ``TELEMETRY_TAIL_DECISION_WAIT``).

Their runs are not traced: the sampler drops their root spans (``instrumentation.setup``) and
they read and write the store untraced, so looking after the spans adds none.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from telemetry.dashboard.alerts import alerts_evaluate, failure_groups_evaluate
from telemetry.store import retention, tail

logger = logging.getLogger(__name__)


@shared_task(name="telemetry.evaluate_alerts")
def evaluate_alerts() -> dict[str, int]:
    """Evaluate every enabled alert rule; mail the admins when one fires or recovers. Then
    group the failed and slow traces that settled since; mail the admins about new groups
    (a failing store or mail server is logged and waits for the next run)."""
    outcomes = alerts_evaluate()
    try:
        return {**outcomes, **failure_groups_evaluate()}
    except (DatabaseError, OSError):  # the store, or the mail server (SMTP errors are OSError)
        logger.exception("failure groups could not be evaluated")
        return {**outcomes, "failure_groups_error": 1}


@shared_task(name="telemetry.prune_traces")
def prune_traces() -> dict[str, int]:
    """Remove the traces the retention policy no longer keeps."""
    return retention.prune(retention.Policy.from_settings())


@shared_task(name="telemetry.decide_traces")
def decide_traces() -> dict[str, int]:
    """Decide the quiet traces: keep or drop (``telemetry.store.tail``); nothing when off."""
    if not settings.TELEMETRY_TAIL_SAMPLING:
        return {}
    return tail.decide(tail.Policy.from_settings())
