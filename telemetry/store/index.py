"""The span store's search index, written in the same transaction as the spans it describes.

- ``Trace``: one summary row per trace (start, end, duration, span and error counts, root
  operation), so search filters, sorts and paginates traces without grouping a million
  spans. A trace's spans arrive in batches from several processes (web, worker), so a
  batch *adds* to the row: counts are incremented and the bounds widened in one
  ``INSERT … ON CONFLICT DO UPDATE`` that SQLite and PostgreSQL both speak, race-free.
- ``TraceAttribute``: the distinct attribute pairs of each trace, plus its services and
  operations, behind ``key=value`` search (a JSON column cannot be indexed for "any key"
  on SQLite).
- ``Operation``: every (service, name, kind) seen, for the search form's choices.

Rows are written in a fixed order (sorted by key) so that two processes indexing spans
of the same trace at once take their locks in the same order and cannot deadlock. Every
table is written with batched INSERTs built once (``telemetry.store.bulk``), not with
``bulk_create``: the exporter's batches are the store's hot path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from operator import attrgetter
from typing import NamedTuple

from django.db import connections, models, router, transaction

from instrumentation.attributes import CUSTOMER_TIER
from telemetry.models import Operation, Span, Trace, TraceAttribute
from telemetry.store import tail
from telemetry.store.bulk import BulkInsert


class SpanRow(NamedTuple):
    """A span as the store writes it: the ``Span`` columns, in the INSERT's order, without
    a model instance (building one costs about as much as writing the row)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    kind: str
    start_time_ns: int
    end_time_ns: int
    duration_ns: int
    status: str
    status_message: str
    attributes: dict
    events: list
    links: list
    resource: dict
    order_id: str


ATTRIBUTE_FIELDS = ("key", "value", "trace_id")  # as ``attribute_pairs`` gives them
OPERATION_FIELDS = ("service", "name", "kind")
# Re-exports and concurrent writers meet rows already there: those are skipped, never an error.
SPAN_INSERT = BulkInsert(Span, SpanRow._fields, ignore_conflicts=True)
_span_values = attrgetter(*SpanRow._fields)  # a SpanRow's or a Span's values, as a tuple


@cache
def _insert(model: type[models.Model], fields: tuple[str, ...]) -> BulkInsert:
    """The index tables' inserts, one per model (a migration passes its historical ones)."""
    return BulkInsert(model, fields, ignore_conflicts=True)


def save_spans(rows: Sequence[Span | SpanRow], *, now_ns: int | None = None) -> int:
    """Stores the spans not stored yet and indexes them, all in one transaction; spans
    already stored (a trace loaded twice) are left as they are, and so are the spans of a
    trace tail retention dropped, unless one is an error (``telemetry.store.tail``).
    ``now_ns`` (default the wall clock) is when the batch was stored, for "quiet".
    Returns how many were new."""
    db = router.db_for_write(Span)
    now_ns = time.time_ns() if now_ns is None else now_ns
    with transaction.atomic(using=db):
        trace_ids = {row.trace_id for row in rows}
        rows, revived = tail.late_spans(rows, tail.decisions(trace_ids, using=db))
        stored = set(
            Span.objects.using(db)
            .filter(trace_id__in={row.trace_id for row in rows})
            .values_list("trace_id", "span_id")
        )
        new: dict[tuple[str, str], Span | SpanRow] = {}
        for row in rows:
            new.setdefault((row.trace_id, row.span_id), row)
        fresh = [row for key, row in new.items() if key not in stored]
        if fresh:
            SPAN_INSERT.run(map(_span_values, fresh), using=db)
            index_spans(fresh, using=db, now_ns=now_ns)
        tail.revive(revived, using=db, now_ns=now_ns)
    return len(fresh)


def index_spans(
    rows: Sequence,
    *,
    using: str,
    trace_model=Trace,
    attribute_model=TraceAttribute,
    operation_model=Operation,
    now_ns: int = 0,
) -> None:
    """Adds newly stored spans to the index. ``rows`` need only the ``Span`` fields; the
    models are parameters so that a migration can pass its historical ones (a ``Trace``
    from before tail retention has no ``last_stored_ns`` nor ``tier`` to write)."""
    tail_fields = {"last_stored_ns", "tier"} <= {f.name for f in trace_model._meta.get_fields()}
    table = trace_model._meta.db_table
    _add_to_traces(rows, using=using, table=table, now_ns=now_ns if tail_fields else None)
    pairs = sorted(attribute_pairs(rows))
    _insert(attribute_model, ATTRIBUTE_FIELDS).run(pairs, using=using)
    operations = sorted({(row.service, row.name, row.kind) for row in rows})
    _insert(operation_model, OPERATION_FIELDS).run(operations, using=using)


def attribute_text(value: object) -> str:
    """An attribute value as search compares it: ``true``/``false``, numbers as Python
    prints them, lists as JSON, strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, default=str)


def operation_value(service: str, name: str) -> str:
    return f"{service}\t{name}"


# Attributes that are measurements or one-off ids, different on nearly every span: an
# index row each, for a search nobody makes (``threadline.cpu_ms=12.7``). About a third of
# an order's index rows (issue 15: ingest). Searching for one still works, by reading spans.
UNINDEXED_KEYS = frozenset(
    {
        "threadline.cpu_ms",
        "payment.gateway.latency_ms",
        "db.redis.args_length",
        "celery.delivery_info",
        "celery.reply_to",
    }
)
UNINDEXED_PREFIXES = ("db.summary.",)  # the statements folded into a span: counts and times


def is_indexed(key: str, value: str) -> bool:
    return indexed_key(key) and len(value) <= TraceAttribute.MAX_VALUE


@lru_cache(maxsize=4096)  # a store sees a few hundred keys; each span asks for a dozen
def indexed_key(key: str) -> bool:
    return len(key) <= 200 and key not in UNINDEXED_KEYS and not key.startswith(UNINDEXED_PREFIXES)


def attribute_pairs(rows: Iterable) -> set[tuple[str, str, str]]:
    """The distinct ``(key, value, trace_id)`` entries that ``rows`` add to the index.
    The hot loop of indexing: a dozen attributes a span, most of them strings already."""
    pairs: set[tuple[str, str, str]] = set()
    add = pairs.add
    max_value = TraceAttribute.MAX_VALUE
    for row in rows:
        trace_id = row.trace_id
        for key, value in (
            (TraceAttribute.SERVICE, row.service),
            (TraceAttribute.OPERATION, operation_value(row.service, row.name)),
        ):
            if len(value) <= max_value:
                add((key, value, trace_id))
        for key, value in (row.attributes or {}).items():
            if indexed_key(key):
                text = value if value.__class__ is str else attribute_text(value)
                if len(text) <= max_value:
                    add((key, text, trace_id))
    return pairs


def root_rank(row) -> int:
    return row.start_time_ns + (Trace.ROOT_RANK_CHILD if row.parent_span_id else 0)


def trace_totals(rows: Iterable) -> dict[str, dict]:
    """What ``rows`` contribute to each of their traces' summary rows."""
    totals: dict[str, dict] = {}
    for row in rows:
        rank = root_rank(row)
        total = totals.get(row.trace_id)
        if total is None:
            total = totals[row.trace_id] = {
                "start_ns": row.start_time_ns,
                "end_ns": row.end_time_ns,
                "span_count": 0,
                "error_count": 0,
                "root_rank": rank,
                "root_name": row.name,
                "root_service": row.service,
                "tier": "",
            }
        total["start_ns"] = min(total["start_ns"], row.start_time_ns)
        total["end_ns"] = max(total["end_ns"], row.end_time_ns)
        total["span_count"] += 1
        total["error_count"] += row.status == "ERROR"
        total["tier"] = total["tier"] or str((row.attributes or {}).get(CUSTOMER_TIER, ""))[:20]
        if rank < total["root_rank"]:
            total.update(root_rank=rank, root_name=row.name, root_service=row.service)
    return totals


# The earlier start, the later end, the counts added, the better-ranked root: the new
# values are ``excluded.…`` (the row that conflicted), the stored ones ``t.…``. With tail
# retention's columns (``TAIL_*``), also the latest store time and the first tier seen.
UPSERT = """
INSERT INTO {table} AS t
    (trace_id, start_ns, end_ns, duration_ns, span_count, error_count, root_rank, root_name,
     root_service{columns})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s{values})
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = CASE WHEN excluded.start_ns < t.start_ns THEN excluded.start_ns ELSE t.start_ns END,
    end_ns = CASE WHEN excluded.end_ns > t.end_ns THEN excluded.end_ns ELSE t.end_ns END,
    duration_ns = CASE WHEN excluded.end_ns > t.end_ns THEN excluded.end_ns ELSE t.end_ns END
        - CASE WHEN excluded.start_ns < t.start_ns THEN excluded.start_ns ELSE t.start_ns END,
    span_count = t.span_count + excluded.span_count,
    error_count = t.error_count + excluded.error_count,
    root_name = CASE WHEN excluded.root_rank < t.root_rank THEN excluded.root_name ELSE t.root_name END,
    root_service = CASE WHEN excluded.root_rank < t.root_rank
        THEN excluded.root_service ELSE t.root_service END,
    root_rank = CASE WHEN excluded.root_rank < t.root_rank
        THEN excluded.root_rank ELSE t.root_rank END{updates}
"""
TAIL_COLUMNS = ", last_stored_ns, tier"
TAIL_UPDATES = """,
    last_stored_ns = CASE WHEN excluded.last_stored_ns > t.last_stored_ns
        THEN excluded.last_stored_ns ELSE t.last_stored_ns END,
    tier = CASE WHEN t.tier = '' THEN excluded.tier ELSE t.tier END"""


def _add_to_traces(rows: Iterable, *, using: str, table: str, now_ns: int | None) -> None:
    """Upserts the summary rows; ``now_ns`` None: a table without tail retention's columns."""
    connection = connections[using]
    params = [
        (
            trace_id,
            total["start_ns"],
            total["end_ns"],
            total["end_ns"] - total["start_ns"],
            total["span_count"],
            total["error_count"],
            total["root_rank"],
            total["root_name"],
            total["root_service"],
            *(() if now_ns is None else (now_ns, total["tier"])),
        )
        for trace_id, total in sorted(trace_totals(rows).items())
    ]
    tail_sql = {"columns": TAIL_COLUMNS, "values": ", %s, %s", "updates": TAIL_UPDATES}
    sql = UPSERT.format(
        table=connection.ops.quote_name(table),
        **(tail_sql if now_ns is not None else dict.fromkeys(tail_sql, "")),
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
