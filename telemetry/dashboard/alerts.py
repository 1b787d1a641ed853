"""Alert evaluation: each enabled rule is checked against the numbers the metrics page
shows (``telemetry.dashboard.metrics``); a rule that starts breaching fires and mails the admins with
example traces, one that stops recovers and mails again. Nothing here is traced.

A new failure group (``telemetry.failures``) mails the admins too, in the same beat run:
``failure_groups_evaluate`` groups the traces that settled since, and each group no mail has
announced yet is announced once, its diagnosis sentence and its link in the first lines.

A window without a single call gives no value, which counts as not breaching: a rule
recovers when its service falls silent. The move between firing and not firing is a
conditional update, so two overlapping runs send one mail.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import mail_admins
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from instrumentation.context import untraced
from telemetry import failures
from telemetry.dashboard import metrics
from telemetry.models import AlertRule, AlertState, FailureGroup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    value: float | None  # None: no calls in the window
    example_trace_ids: tuple[str, ...]

    def breaches(self, rule: AlertRule) -> bool:
        return self.value is not None and self.value > rule.threshold


def rule_reading(rule: AlertRule, *, now_ns: int | None = None) -> Reading:
    """The rule's value over its window, with the traces that show it best."""
    win = metrics.trailing_window(rule.window_seconds, now_ns=now_ns)
    stats = metrics.summary(win, service=rule.service, operation=rule.operation or None)
    if not stats.calls:
        return Reading(None, ())
    if rule.kind == AlertRule.Kind.ERROR_RATE:
        return Reading(stats.error_rate, stats.failed_trace_ids)
    return Reading(stats.p95_ms, stats.slowest_trace_ids)


def format_value(rule: AlertRule, value: float | None) -> str:
    if value is None:
        return "no data"
    if rule.kind == AlertRule.Kind.ERROR_RATE:
        return f"{value:.1%}"
    return f"{value:.1f} ms"


def trace_url(trace_id: str) -> str:
    return settings.THREADLINE_BASE_URL.rstrip("/") + reverse("telemetry:trace-detail", args=[trace_id])


def alert_rule_evaluate(*, rule: AlertRule, now_ns: int | None = None) -> str:
    """Evaluate one rule and move its state; returns fired, recovered, firing or ok."""
    reading = rule_reading(rule, now_ns=now_ns)
    breached = reading.breaches(rule)
    now = timezone.now()
    state, _ = AlertState.objects.get_or_create(rule=rule)
    changes = {
        "last_value": reading.value,
        "last_evaluated": now,
        "example_trace_ids": list(reading.example_trace_ids) if breached else [],
    }
    if breached and not state.firing:
        if AlertState.objects.filter(pk=state.pk, firing=False).update(firing=True, since=now, **changes):
            _mail_fired(rule, reading)
            return "fired"
    elif not breached and state.firing:
        if AlertState.objects.filter(pk=state.pk, firing=True).update(firing=False, since=None, **changes):
            _mail_recovered(rule, reading)
            return "recovered"
    AlertState.objects.filter(pk=state.pk).update(**changes)
    return "firing" if breached else "ok"


def alerts_evaluate(*, now_ns: int | None = None) -> dict[str, int]:
    """Evaluate every enabled rule (a failing one does not stop the others); a disabled
    rule stops firing without a mail. Returns how many rules ended in each outcome."""
    now_ns = now_ns if now_ns is not None else time.time_ns()
    outcomes: dict[str, int] = {}
    with untraced():
        AlertState.objects.filter(firing=True, rule__enabled=False).update(firing=False, since=None)
        for rule in AlertRule.objects.filter(enabled=True).order_by("name"):
            try:
                outcome = alert_rule_evaluate(rule=rule, now_ns=now_ns)
            except (DatabaseError, OSError):  # the store, or the mail server (SMTP errors are OSError)
                logger.exception("alert rule %s could not be evaluated", rule.name)
                outcome = "error"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def alerts_firing() -> list[AlertState]:
    """The states of enabled rules that fire now, oldest first."""
    with untraced():
        return list(
            AlertState.objects.filter(firing=True, rule__enabled=True)
            .select_related("rule")
            .order_by("since")
        )


def _describe(rule: AlertRule) -> str:
    operation = rule.operation or "any operation"
    return (
        f"{rule.get_kind_display()} of {rule.service} / {operation} over {rule.window_seconds} s, "
        f"threshold {format_value(rule, rule.threshold)}"
    )


def _mail_fired(rule: AlertRule, reading: Reading) -> None:
    value = format_value(rule, reading.value)
    lines = [
        f"Alert {rule.name} fires: {value}.",
        f"Rule: {_describe(rule)}.",
        "",
        "Example traces:" if reading.example_trace_ids else "No example traces.",
        *(f"  {trace_url(trace_id)}" for trace_id in reading.example_trace_ids),
        "",
        f"Metrics: {settings.THREADLINE_BASE_URL.rstrip('/')}{reverse('telemetry:metrics')}",
    ]
    mail_admins(f"Alert firing: {rule.name} ({value})", "\n".join(lines))


def _mail_recovered(rule: AlertRule, reading: Reading) -> None:
    value = format_value(rule, reading.value)
    lines = [f"Alert {rule.name} recovered: {value}.", f"Rule: {_describe(rule)}."]
    mail_admins(f"Alert recovered: {rule.name} ({value})", "\n".join(lines))


def failure_groups_evaluate(*, now_ns: int | None = None) -> dict[str, int]:
    """Groups the traces that settled since the last run and mails the admins about the
    groups no mail has announced yet (one mail for all of them). Returns ``grouped`` and
    ``new_groups`` counts, only those above zero."""
    with untraced():
        counts = failures.group_failures(now_ns=now_ns)
        new = failures.claim_new_groups(now_ns=now_ns)
    if new:
        try:
            _mail_new_groups(new)
        except OSError:  # not sent: announce them on the next run
            FailureGroup.objects.filter(pk__in=[g.pk for g in new]).update(alerted_at=None)
            raise
    counts["new_groups"] = len(new)
    return {key: value for key, value in counts.items() if value}


MAIL_SEP = " | "  # ASCII: a subject line shows it in any mail client


def _mail_new_groups(groups: list[FailureGroup]) -> None:
    """The first group's sentence and link open the mail (what a phone's preview shows):
    ``claim_new_groups`` puts failures before slow traces."""
    first = groups[0]
    more = f" and {len(groups) - 1} more" if len(groups) > 1 else ""
    lines = [f"New failure: {first.summary}", failures.group_url(first.pk), ""]
    for group in groups:
        lines += [
            f"{group.get_kind_display().capitalize()}: {failures.describe(group, MAIL_SEP)}",
            f"  {group.summary}",
            f"  {failures.group_url(group.pk)}",
        ]
    page = settings.THREADLINE_BASE_URL.rstrip("/") + reverse("telemetry:failures")
    lines += ["", f"All failure groups: {page}"]
    mail_admins(f"New failure group: {failures.describe(first, MAIL_SEP)}{more}", "\n".join(lines))
