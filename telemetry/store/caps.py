"""Caps on what one trace may hold in the store: spans per trace
(``TELEMETRY_MAX_SPANS_PER_TRACE``) and children per span
(``TELEMETRY_MAX_CHILDREN_PER_SPAN``).

A runaway loop, or a caller piling spans onto one parent, must not make a trace that the
store keeps without bound and the trace page cannot show. Spans over a cap are dropped on
the way in, and counted on the trace (``Trace.dropped_span_count``) so its page says it is
cut short. The exporters store through ``save_within_caps``; the OTLP upload refuses the
same spans with ``admit`` before storing, and reports them.

The counts already stored are read once per batch (one query; the children of a parent
only for a trace that could have reached the children cap). Two processes storing the same
trace at once may together pass a cap by a batch: a bound, not an exact figure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from django.conf import settings
from django.db import router
from django.db.models import Count, F

from telemetry.models import Span, Trace

# A trace's root ends last, after the spans that filled the trace: a span without a parent
# is let in this many spans past the cap, so the cap cuts the flood, not the root.
ROOT_HEADROOM = 16


class Row(Protocol):
    """What the caps read of a span: a stored ``Span``, or the exporter's ``SpanRow``."""

    @property
    def trace_id(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str: ...


R = TypeVar("R", bound=Row)


@dataclass(frozen=True)
class Caps:
    spans_per_trace: int
    children_per_span: int

    @classmethod
    def from_settings(cls) -> Caps:
        return cls(settings.TELEMETRY_MAX_SPANS_PER_TRACE, settings.TELEMETRY_MAX_CHILDREN_PER_SPAN)


@dataclass
class Admitted(Generic[R]):
    """The spans within the caps, and those over them, each with the cap it broke."""

    kept: list[R]
    dropped: list[tuple[R, str]]


def admit(
    rows: Sequence[R],
    caps: Caps,
    *,
    stored_spans: dict[str, int] | None = None,
    stored_children: dict[tuple[str, str], int] | None = None,
) -> Admitted[R]:
    """Splits ``rows`` (in the order given) into those within the caps and those over,
    counting on from what the store already holds of each trace and parent."""
    spans = Counter(stored_spans or {})
    children = Counter(stored_children or {})
    result: Admitted[R] = Admitted(kept=[], dropped=[])
    for row in rows:
        root = not row.parent_span_id or row.parent_span_id == row.span_id
        limit = caps.spans_per_trace + (ROOT_HEADROOM if root else 0)
        if spans[row.trace_id] >= limit:
            result.dropped.append((row, f"over the cap of {caps.spans_per_trace} spans per trace"))
            continue
        parent = (row.trace_id, row.parent_span_id)
        if not root and children[parent] >= caps.children_per_span:
            result.dropped.append((row, f"over the cap of {caps.children_per_span} children per span"))
            continue
        spans[row.trace_id] += 1
        if not root:
            children[parent] += 1
        result.kept.append(row)
    return result


def save_within_caps(rows: Sequence[R], save: Callable[[Sequence[R]], int]) -> int:
    """Stores with ``save`` (the store's write, ``index.save_spans``) the rows within the
    caps, counts the others on their traces, and returns what ``save`` returned."""
    caps = Caps.from_settings()
    db = router.db_for_write(Span)
    admitted = admit(rows, caps, **_stored_counts(rows, caps, db))
    saved = save(admitted.kept)
    if admitted.dropped:
        _count_dropped([row for row, _ in admitted.dropped], db)
    return saved


def _stored_counts(rows: Sequence[Row], caps: Caps, db: str) -> dict:
    in_batch = Counter(row.trace_id for row in rows)
    stored_spans = dict(
        Trace.objects.using(db).filter(trace_id__in=list(in_batch)).values_list("trace_id", "span_count")
    )
    # A parent can only be at the children cap in a trace holding more spans than that.
    crowded = [
        trace_id
        for trace_id, count in in_batch.items()
        if stored_spans.get(trace_id, 0) + count > caps.children_per_span
    ]
    stored_children: dict[tuple[str, str], int] = {}
    if crowded:
        parents = {row.parent_span_id for row in rows if row.trace_id in crowded and row.parent_span_id}
        counted = (
            Span.objects.using(db)
            .filter(trace_id__in=crowded, parent_span_id__in=parents)
            .values_list("trace_id", "parent_span_id")
            .annotate(count=Count("id"))
        )
        stored_children = {(trace_id, parent): count for trace_id, parent, count in counted}
    return {"stored_spans": stored_spans, "stored_children": stored_children}


def _count_dropped(dropped: Sequence[Row], db: str) -> None:
    """Adds the dropped spans to their traces' ``dropped_span_count``, leaving out those
    already stored (a trace loaded twice drops nothing it did not already hold)."""
    stored = set(
        Span.objects.using(db)
        .filter(trace_id__in={row.trace_id for row in dropped}, span_id__in={row.span_id for row in dropped})
        .values_list("trace_id", "span_id")
    )
    per_trace = Counter(row.trace_id for row in dropped if (row.trace_id, row.span_id) not in stored)
    for trace_id, count in per_trace.items():
        Trace.objects.using(db).filter(trace_id=trace_id).update(
            dropped_span_count=F("dropped_span_count") + count
        )
