"""Spans written straight into the store (with its index) with known durations and statuses, so the
dashboard's and alerts' numbers can be worked out by hand in the tests."""

from __future__ import annotations

import itertools

from telemetry.models import Span
from telemetry.store.index import save_spans

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
# A fixed "now" (2027-01-15) so windows and buckets do not depend on the clock.
NOW = 1_800_000_000 * NS_PER_S
_ids = itertools.count(1)


def add_span(
    trace: str,
    service: str,
    name: str,
    *,
    kind: str = "SERVER",
    parent: Span | None = None,
    parent_span_id: str = "",
    ago_s: float = 60,
    ms: float = 10,
    status: str = "UNSET",
) -> Span:
    """A span of ``ms`` milliseconds that started ``ago_s`` seconds before ``NOW``;
    ``trace`` is padded into a 32-digit trace id."""
    start = NOW - int(ago_s * NS_PER_S)
    duration = int(ms * NS_PER_MS)
    span = Span(
        trace_id=trace_id(trace),
        span_id=format(next(_ids), "016x"),
        parent_span_id=parent.span_id if parent else parent_span_id,
        name=name,
        service=service,
        kind=kind,
        start_time_ns=start,
        end_time_ns=start + duration,
        duration_ns=duration,
        status=status,
    )
    save_spans([span])
    return span


def trace_id(name: str) -> str:
    return name.encode().hex().ljust(32, "0")[:32]


def call(
    trace: str,
    caller: Span,
    service: str,
    name: str,
    *,
    ms: float,
    status: str = "UNSET",
    ago_s: float = 60,
    kind: str = "SERVER",
) -> Span:
    """A call from ``caller``'s service to ``service``: a client span under ``caller`` and
    the callee's server span under it, as the instrumentors record an HTTP hop."""
    client = add_span(trace, caller.service, "POST", kind="CLIENT", parent=caller, ago_s=ago_s, ms=ms + 1)
    return add_span(trace, service, name, kind=kind, parent=client, ago_s=ago_s, ms=ms, status=status)
