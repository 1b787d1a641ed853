"""Tail retention: which stored traces the store keeps, decided once each trace is quiet.

A trace is decided when no span of it has been stored for ``TELEMETRY_TAIL_DECISION_WAIT``
seconds (``Trace.last_stored_ns``, set by every batch that stores spans of it):

- a trace with an error span is kept (reason ``error``);
- a trace longer than ``TELEMETRY_TAIL_SLOW_MS`` is kept at ``TELEMETRY_TAIL_SLOW_SHARE``
  (``slow``), any other at ``TELEMETRY_TAIL_BASE_SHARE`` (``base``); each share is
  multiplied by the customer tier's multiplier (``TELEMETRY_TIER_MULTIPLIERS``; a trace
  without a ``customer.tier`` counts as ``standard``) and capped at 1.

The draw is a hash of the trace id into [0, 1), so deciding again decides the same. It is
a hash of its own, not the trace id's low bits that a ratio head sampler compares: the
stored traces all passed the head sampler, and the tail's share must be a share of them.

Dropping deletes the trace's spans, log records and index entries and keeps its summary row
with ``decision = "drop"``, so spans arriving later are discarded on the way in
(``late_spans``), unless one of them is an error: then what arrives is kept and the trace
becomes ``keep`` / ``late_error``, ``incomplete``. Each run decides at most ``BATCH``
traces, ``CHUNK`` per short transaction; it runs on beat (``telemetry.decide_traces``)
when ``TELEMETRY_TAIL_SAMPLING`` is on, and on demand (``manage.py decide_traces``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.db import router, transaction

from instrumentation.context import untraced
from telemetry.models import LogRecord, Span, Trace, TraceAttribute
from telemetry.store import retention

if TYPE_CHECKING:
    from telemetry.store.index import SpanRow

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
BATCH = 2000  # traces decided per run at most: a backlog is worked off over several runs
CHUNK = 100  # traces per transaction
STANDARD = "standard"  # the tier of a trace that names none
DECIDED_FIELDS = ["decision", "decision_reason", "decision_share", "decided_at", "span_count", "error_count"]


def parse_multipliers(text: str) -> dict[str, float]:
    """``"premium=1.5,standard=1.0,free=0.5"`` as a dict; blank entries are skipped."""
    multipliers = {}
    for entry in text.split(","):
        if entry.strip():
            tier, _, value = entry.partition("=")
            multipliers[tier.strip()] = float(value)
    return multipliers


@dataclass(frozen=True)
class Policy:
    wait_s: float
    slow_ms: float
    slow_share: float
    base_share: float
    multipliers: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(
            wait_s=settings.TELEMETRY_TAIL_DECISION_WAIT,
            slow_ms=settings.TELEMETRY_TAIL_SLOW_MS,
            slow_share=settings.TELEMETRY_TAIL_SLOW_SHARE,
            base_share=settings.TELEMETRY_TAIL_BASE_SHARE,
            multipliers=parse_multipliers(settings.TELEMETRY_TIER_MULTIPLIERS),
        )

    def multiplier(self, tier: str) -> float:
        return self.multipliers.get(tier or STANDARD, 1.0)

    def share(self, reason: str, tier: str) -> float:
        """The effective share of a ``slow`` or ``base`` trace of ``tier``, capped at 1."""
        share = self.slow_share if reason == Trace.Reason.SLOW else self.base_share
        return min(1.0, share * self.multiplier(tier))


@dataclass(frozen=True)
class Verdict:
    decision: str  # Trace.Decision
    reason: str  # Trace.Reason
    share: float  # the effective share the trace was drawn at (1 for an error)


def draw(trace_id: str) -> float:
    """A trace id's fixed place in [0, 1): the same on every run and in every process."""
    digest = hashlib.sha256(f"tail:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def verdict(trace: Trace, policy: Policy) -> Verdict:
    """What the policy does with a quiet trace."""
    if trace.error_count:
        return Verdict(Trace.Decision.KEEP, Trace.Reason.ERROR, 1.0)
    slow = trace.duration_ns > policy.slow_ms * NS_PER_MS
    reason = Trace.Reason.SLOW if slow else Trace.Reason.BASE
    share = policy.share(reason, trace.tier)
    keep = draw(trace.trace_id) < share
    return Verdict(Trace.Decision.KEEP if keep else Trace.Decision.DROP, reason, share)


def quiet(policy: Policy, *, now_ns: int):
    """The undecided traces no span has been stored for in ``policy.wait_s``, longest quiet first."""
    cutoff = now_ns - int(policy.wait_s * NS_PER_S)
    return Trace.objects.filter(decision=Trace.Decision.PENDING, last_stored_ns__lt=cutoff).order_by(
        "last_stored_ns", "trace_id"
    )


def decide(policy: Policy, *, now_ns: int | None = None, batch: int = BATCH) -> dict[str, int]:
    """Decides up to ``batch`` quiet traces. Returns counts: ``kept``, ``dropped``, per
    ``keep:<reason>`` and ``drop:<reason>``, and ``spans_removed``."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    counts: Counter[str] = Counter()
    with untraced():
        fields = ("trace_id", "duration_ns", "error_count", "tier", "last_stored_ns")
        traces = list(quiet(policy, now_ns=now_ns).only(*fields)[:batch])
        for first in range(0, len(traces), CHUNK):
            counts += _decide_chunk(traces[first : first + CHUNK], policy, now_ns=now_ns)
    return {"kept": 0, "dropped": 0, "spans_removed": 0, **counts}


def _decide_chunk(traces: Sequence[Trace], policy: Policy, *, now_ns: int) -> Counter[str]:
    """One transaction: the chunk's traces that are still pending and quiet (a span may have
    arrived since they were read; the exporter locks the same rows) get their verdicts;
    the dropped ones lose their spans, log records and index entries."""
    db = router.db_for_write(Trace)
    cutoff = now_ns - int(policy.wait_s * NS_PER_S)
    decided_at = dt.datetime.fromtimestamp(now_ns / NS_PER_S, tz=dt.UTC)
    counts: Counter[str] = Counter()
    with transaction.atomic(using=db):
        still = set(
            Trace.objects.using(db)
            .select_for_update()
            .filter(trace_id__in=[t.trace_id for t in traces], decision="", last_stored_ns__lt=cutoff)
            .order_by("trace_id")  # the exporter locks in the same order: no deadlock
            .values_list("trace_id", flat=True)
        )
        decided = [trace for trace in traces if trace.trace_id in still]
        for trace in decided:
            result = verdict(trace, policy)
            trace.decision, trace.decision_reason = result.decision, result.reason
            trace.decision_share, trace.decided_at = result.share, decided_at
            if result.decision == Trace.Decision.DROP:
                trace.span_count = trace.error_count = 0  # the row now counts what is stored
            counts[f"{result.decision}:{result.reason}"] += 1
            counts["kept" if result.decision == Trace.Decision.KEEP else "dropped"] += 1
        kept = [trace for trace in decided if trace.decision == Trace.Decision.KEEP]
        dropped = [trace for trace in decided if trace.decision == Trace.Decision.DROP]
        # A kept row's counts are left alone: spans may have been added since they were read.
        Trace.objects.using(db).bulk_update(kept, DECIDED_FIELDS[:4])
        Trace.objects.using(db).bulk_update(dropped, DECIDED_FIELDS)
        counts["spans_removed"] += _remove_spans([trace.trace_id for trace in dropped], using=db)
    return counts


def _remove_spans(trace_ids: list[str], *, using: str) -> int:
    if not trace_ids:
        return 0
    spans, _ = Span.objects.using(using).filter(trace_id__in=trace_ids).delete()
    LogRecord.objects.using(using).filter(trace_id__in=trace_ids).delete()
    TraceAttribute.objects.using(using).filter(trace_id__in=trace_ids).delete()
    # The metric rows stay (the figures count every request) but offer no gone trace as example.
    retention.unsample_metrics(trace_ids)
    return spans


# --- the write path: spans of decided traces ----------------------------------------------


def decisions(trace_ids: Iterable[str], *, using: str) -> dict[str, str]:
    """The decided traces among ``trace_ids`` and their decisions: one query, locking the rows
    (in ``trace_id`` order, as ``decide`` does) so no decision lands between this read and
    the write it guards. Call it inside the write's transaction."""
    rows = (
        Trace.objects.using(using)
        .select_for_update()
        .filter(trace_id__in=set(trace_ids))
        .exclude(decision=Trace.Decision.PENDING)
        .order_by("trace_id")
        .values_list("trace_id", "decision")
    )
    return dict(rows)


StoredSpan = TypeVar("StoredSpan", Span, "SpanRow", "Span | SpanRow")  # a model's or a plain row


def late_spans(rows: Sequence[StoredSpan], decided: dict[str, str]) -> tuple[list[StoredSpan], set[str]]:
    """The spans of a batch that the decisions let in, and the dropped traces that an
    error span revives. A kept or pending trace's spans go in; a dropped trace's are
    discarded unless one of them is an error: a failure is never lost to a drop."""
    gone = {trace_id for trace_id, decision in decided.items() if decision == Trace.Decision.DROP}
    revived = {row.trace_id for row in rows if row.trace_id in gone and row.status == "ERROR"}
    kept = [row for row in rows if row.trace_id not in gone or row.trace_id in revived]
    return kept, revived


def revive(trace_ids: set[str], *, using: str, now_ns: int) -> None:
    """Dropped traces an error arrived for: kept from now on, marked incomplete."""
    if trace_ids:
        Trace.objects.using(using).filter(trace_id__in=trace_ids).update(
            decision=Trace.Decision.KEEP,
            decision_reason=Trace.Reason.LATE_ERROR,
            decision_share=1.0,
            decided_at=dt.datetime.fromtimestamp(now_ns / NS_PER_S, tz=dt.UTC),
            incomplete=True,
        )


def dropped(trace_ids: Iterable[str], *, using: str) -> set[str]:
    """The dropped traces among ``trace_ids`` (for the log records of a batch)."""
    rows = Trace.objects.using(using).filter(trace_id__in=set(trace_ids), decision=Trace.Decision.DROP)
    return set(rows.values_list("trace_id", flat=True))
