"""Diagnosis of one trace, computed from its spans alone: where the time went, which error
came first, how it reached the order, and what to do about it.

Pure functions over ``telemetry.models.Span`` rows (stored or unsaved): no database access.
Callers pass one trace, e.g. ``analyze(trace_spans(trace_id))``.

Definitions:

- **Self time** of a span: its duration minus the union of its children's intervals, each
  clipped to the span (overlapping children count once; a Celery run that outlives the
  publish that caused it counts only inside the publish).
- **Share** of a service: its spans' summed self time over the summed self time of every
  span in the trace (``total_ns``), so shares add up to 1. ``total_ns`` is not the wall
  time: it is more when spans overlap (concurrent work, a task running after its publisher
  ended) and less when nothing ran (a retry's countdown).
- **Bottleneck**: the service whose share is over one half, else none.
- **Root cause**: among error spans with no error child (where an error started) and no
  such span anywhere below them, the earliest to start, the deepest at equal start. Its
  attempt is the ``celery.attempt`` of the span or its nearest ancestor; its fault the
  nearest ``fault.name``.
  Its stack: the application frames of the first stack trace on its path that reaches
  them, library frames folded (``stack``).
- **Propagation**: the spans the error reached, from the root cause up through its error
  ancestors (an ancestor that ended without error stopped it), then what followed in the
  trace: later attempts of the same task, compensation and what it undid.
- **Verdict**: the service at fault, the operation and the cause in a fixed vocabulary,
  with a sentence (``verdict``): what the failure catalogue compares.
- **Engine**: the database the statements ran on (``db.system``); advice depends on it.
- **Recommendations** (``kind``): ``lock_contention``: a statement that waited for a lock
  (a slow ``BEGIN``; on PostgreSQL a slow write while another process wrote the table),
  naming the holder when the trace holds it (``locks``); statements the database stopped
  (timeout, interrupted, QueryCanceled, locked) in two attempts or more
  (``db_timeout_on_retries``: timeouts, what held the lock, the pool on PostgreSQL, a
  circuit breaker) or fewer (``db_timeout``); calls to another app failing in two
  attempts or more (``dependency_failing_on_retries``); ``n_plus_one``: at least
  ``N_PLUS_ONE_MIN`` (5) statements under one parent, identical once literals and
  parameters are normalised, one recommendation per such statement however many parents
  repeat it (a loop over batches: "N+1 queries in 20 places"); ``worker_lost``: spans
  whose parent never reached the store (the process died mid-span); a span below the root
  whose self time exceeds ``SLOW_SHARE`` (25%) of the trace's wall time: ``slow_leaf`` when
  it has no children (the external call to look at), ``uninstrumented_time`` otherwise.

The parts: ``model`` (the values), ``spans`` (what one span says: its error, its label),
``timing``, ``root_cause``, ``stack``, ``propagation``, ``locks``, ``recommendations``,
``verdict``, all over one ``telemetry.tree.SpanTree``; ``text`` words it (``summary_line``
for the order's admin page, ``diagnosis_text`` for ``manage.py trace --analyze``);
``Diagnosis.to_dict()`` is its JSON.
"""

from __future__ import annotations

from collections.abc import Iterable

from telemetry.diagnosis.locks import engine
from telemetry.diagnosis.model import Diagnosis
from telemetry.diagnosis.propagation import outcome, propagation
from telemetry.diagnosis.recommendations import recommendations
from telemetry.diagnosis.root_cause import root_cause
from telemetry.diagnosis.timing import bottleneck, service_times, wall_ns
from telemetry.diagnosis.verdict import verdict
from telemetry.models import Span
from telemetry.tree import SpanTree


def analyze(spans: Iterable[Span] | SpanTree[Span]) -> Diagnosis:
    """Diagnose one trace from its spans or its tree (see the module docstring for the
    definitions)."""
    tree = spans if isinstance(spans, SpanTree) else SpanTree(spans)
    services = service_times(tree)
    cause = root_cause(tree)
    spread = propagation(tree, cause)
    found = recommendations(tree)
    return Diagnosis(
        trace_id=tree.spans[0].trace_id if tree.spans else "",
        wall_ns=wall_ns(tree.spans),
        total_ns=sum(s.self_ns for s in services),
        services=services,
        bottleneck=bottleneck(services),
        root_cause=cause,
        propagation=spread,
        outcome=outcome(tree, cause, spread.after),
        recommendations=found,
        engine=engine(tree),
        verdict=verdict(tree, cause, found),
    )
