"""Telemetry's Celery task: alert evaluation, run by beat every ``TELEMETRY_ALERT_INTERVAL``.

Its run is not traced: the sampler drops the task's root span (``telemetry.setup``) and
the evaluation reads the store untraced, so watching the spans adds none.
"""

from __future__ import annotations

from celery import shared_task

from telemetry.alerts import alerts_evaluate


@shared_task(name="telemetry.evaluate_alerts")
def evaluate_alerts() -> dict[str, int]:
    """Evaluate every enabled alert rule; mail the admins when one fires or recovers."""
    return alerts_evaluate()
