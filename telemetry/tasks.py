"""Telemetry's Celery tasks, run by beat: alert evaluation (every
``TELEMETRY_ALERT_INTERVAL``), pruning the store (every ``TELEMETRY_PRUNE_INTERVAL``) and,
with ``TELEMETRY_TAIL_SAMPLING`` on, tail retention's decisions (every third of
``TELEMETRY_TAIL_DECISION_WAIT``).

Their runs are not traced: the sampler drops their root spans (``instrumentation.setup``) and
they read and write the store untraced, so looking after the spans adds none.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from telemetry.dashboard.alerts import alerts_evaluate
from telemetry.store import retention, tail


@shared_task(name="telemetry.evaluate_alerts")
def evaluate_alerts() -> dict[str, int]:
    """Evaluate every enabled alert rule; mail the admins when one fires or recovers."""
    return alerts_evaluate()


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
