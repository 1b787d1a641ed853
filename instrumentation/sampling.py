"""Head sampling: which traces a process starts at all."""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind

# Task runs that watch the store (alert evaluation): tracing them would feed the store
# the very spans it is watching, every minute.
UNTRACED_ROOTS = frozenset(
    {"run/telemetry.evaluate_alerts", "run/telemetry.prune_traces", "run/telemetry.decide_traces"}
)


class DropBackgroundRoots(Sampler):
    """Root sampler that drops database and Redis client spans without a parent: a
    process's broker polling and housekeeping queries, not part of any request or task.
    An HTTP call without a parent (a script driving the shop) still starts a trace.
    Telemetry's own beat task runs (``UNTRACED_ROOTS``) are dropped too."""

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        if name in UNTRACED_ROOTS:
            return SamplingResult(Decision.DROP)
        attributes = attributes or {}
        is_http = "http.method" in attributes or "http.request.method" in attributes
        if kind == SpanKind.CLIENT and not is_http:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "DropBackgroundRoots"
