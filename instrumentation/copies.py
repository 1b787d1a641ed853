"""Copies of ended spans, which the SDK makes immutable: the redacted copy every exporter
gets (``privacy``), a parent with its folded statements' summary (``statements``), a span
under its app's own resource for OTLP (``processors``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AnyValue


class SpanCopy(ReadableSpan):
    """A copy of ``original`` built from ``fields`` that still reports what the SDK's limits
    dropped from the original, plus ``dropped`` attributes more (OTLP carries these counts)."""

    def __init__(self, *, original: ReadableSpan, dropped: int = 0, **fields) -> None:
        super().__init__(**fields)
        self._dropped_counts = (
            original.dropped_attributes + dropped,
            original.dropped_events,
            original.dropped_links,
        )

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_counts[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped_counts[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped_counts[2]


def copy_of(span: ReadableSpan, *, dropped: int = 0, **changes: Any) -> ReadableSpan:
    """``span`` with ``changes`` (any of ``ReadableSpan``'s fields: ``attributes``,
    ``resource``, ``name``…) in place of its own."""
    fields = {
        "name": span.name,
        "context": span.context,
        "parent": span.parent,
        "resource": span.resource,
        "attributes": span.attributes,
        "events": span.events,
        "links": span.links,
        "kind": span.kind,
        "status": span.status,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "instrumentation_scope": span.instrumentation_scope,
    }
    return SpanCopy(original=span, dropped=dropped, **{**fields, **changes})


def with_attributes(span: ReadableSpan, extra: Mapping[str, AnyValue]) -> ReadableSpan:
    """``span`` with ``extra`` added to its attributes."""
    return copy_of(span, attributes={**(span.attributes or {}), **extra})
