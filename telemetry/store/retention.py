"""How long the span store keeps a trace: failed traces longer than the rest.

A trace older than ``TELEMETRY_RETENTION_DAYS`` (by its start) is removed whole (its
spans, log records, index entries and summary row), unless it holds an error span and is
younger than ``TELEMETRY_ERROR_RETENTION_DAYS``: the failures are what an engineer comes
back for. Removal goes a chunk of traces at a time, each chunk one transaction, so the
exporters writing new spans never wait long. Run by beat (``telemetry.prune_traces``, every
``TELEMETRY_PRUNE_INTERVAL`` seconds) and on demand by ``manage.py prune_traces``.

The metric rows (``SpanMetric``, what the dashboard counts) are removed by age alone, after
``TELEMETRY_RETENTION_DAYS``: they belong to no kept or dropped trace, and whatever drops
traces (tail retention) leaves them, so the figures stay exact; it calls
``unsample_metrics`` for the traces it drops, so they are no longer offered as examples.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import router, transaction
from django.db.models import Q, QuerySet

from instrumentation.context import untraced
from telemetry.models import LogRecord, Span, SpanMetric, Trace, TraceAttribute

NS_PER_DAY = 86_400 * 1_000_000_000
CHUNK = 200  # traces per transaction
METRIC_CHUNK = 5000  # metric rows per delete


@dataclass(frozen=True)
class Policy:
    days: float
    error_days: float

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(settings.TELEMETRY_RETENTION_DAYS, settings.TELEMETRY_ERROR_RETENTION_DAYS)


def expired(policy: Policy, *, now_ns: int | None = None) -> QuerySet[Trace]:
    """The traces the policy no longer keeps."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    before = now_ns - int(policy.days * NS_PER_DAY)
    errors_before = now_ns - int(max(policy.error_days, policy.days) * NS_PER_DAY)
    return Trace.objects.filter(
        Q(start_ns__lt=before, error_count=0) | Q(start_ns__lt=errors_before)
    ).order_by("start_ns")


def prune(
    policy: Policy, *, now_ns: int | None = None, progress: Callable[[int], object] = lambda n: None
) -> dict[str, int]:
    """Removes the expired traces; ``progress`` is told how many traces each chunk removed.
    Returns the traces, spans and metric rows removed."""
    db = router.db_for_write(Span)
    removed = {"traces": 0, "spans": 0}
    with untraced():
        while chunk := list(expired(policy, now_ns=now_ns).values_list("trace_id", flat=True)[:CHUNK]):
            with transaction.atomic(using=db):
                spans, _ = Span.objects.filter(trace_id__in=chunk).delete()
                LogRecord.objects.filter(trace_id__in=chunk).delete()
                TraceAttribute.objects.filter(trace_id__in=chunk).delete()
                Trace.objects.filter(trace_id__in=chunk).delete()
            removed["traces"] += len(chunk)
            removed["spans"] += spans
            progress(len(chunk))
    removed["metrics"] = prune_metrics(policy, now_ns=now_ns)
    return removed


def prune_metrics(policy: Policy, *, now_ns: int | None = None) -> int:
    """Removes the metric rows older than ``policy.days``, a chunk at a time; returns how many."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    old = SpanMetric.objects.filter(start_time_ns__lt=now_ns - int(policy.days * NS_PER_DAY))
    removed = 0
    with untraced():
        while chunk := list(old.values_list("pk", flat=True)[:METRIC_CHUNK]):
            removed += SpanMetric.objects.filter(pk__in=chunk).delete()[0]
    return removed


def unsample_metrics(trace_ids: Sequence[str]) -> int:
    """Marks the metric rows of traces dropped before their time (tail retention) as not
    sampled: they still count, but no figure offers a trace that is gone as an example.
    Returns how many rows changed."""
    with untraced():
        return SpanMetric.objects.filter(trace_id__in=list(trace_ids), sampled=True).update(sampled=False)
