"""The span tree of one trace: the one parent-to-children model every reader of a trace walks."""

from __future__ import annotations

from collections.abc import Iterable

from telemetry.models import Span


def span_tree(spans: Iterable[Span]) -> list[tuple[int, Span]]:
    """Depth-first (depth, span) pairs; spans whose parent is missing become roots."""
    spans = list(spans)
    ids = {span.span_id for span in spans}
    children: dict[str, list[Span]] = {}
    roots = []
    for span in sorted(spans, key=lambda s: s.start_time_ns):
        if span.parent_span_id and span.parent_span_id in ids:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    ordered: list[tuple[int, Span]] = []

    def walk(span: Span, depth: int) -> None:
        ordered.append((depth, span))
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return ordered
