"""The span tree of one trace: the one parent-to-children model every reader of a trace walks
(the diagnosis, the critical path, the waterfall and the ``trace`` command's text tree).

Built once from a trace's spans, in start order. A span whose parent is absent from the
trace (a partial trace) or is the span itself is a root; a trace may have several. Spans
caught in a parent loop (possible in an uploaded file) are reached from no root: walks
leave them out and their lineage stops where the loop closes. Nothing recurses, so a trace
nested thousands of spans deep is walked like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from telemetry.models import Span


class SpanLike(Protocol):
    """What the tree needs of a span: any row with ids, a parent id, a start and an end
    (the plain rows of the tests, say). Read-only properties, as the tree never assigns
    them: a settable attribute fits, and so does a frozen dataclass's or a NamedTuple's."""

    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str: ...
    @property
    def start_time_ns(self) -> int: ...
    @property
    def end_time_ns(self) -> int: ...


# ``Span`` is named beside the protocol because mypy cannot be shown that it fits: it checks
# a type argument such as ``SpanTree[Span]`` while analysing the annotation, before the
# django-stubs plugin has inferred the model's field types, finds the fields missing and
# remembers that answer. Reading a stored ``Span``'s fields gives ``str`` and ``int`` all
# the same, so the tree's code is checked against both.
S = TypeVar("S", bound="SpanLike | Span")


class SpanTree(Generic[S]):
    """Parent, children, roots and walks over one trace's spans."""

    def __init__(self, spans: Iterable[S]) -> None:
        # A stable sort: spans that start together keep the order they were given in.
        self.spans: list[S] = sorted(spans, key=lambda s: s.start_time_ns)
        self.by_id: dict[str, S] = {span.span_id: span for span in self.spans}
        self.roots: list[S] = []
        self._children: dict[str, list[S]] = {}
        # What readers compute once per tree and share (the self times, say): the trace
        # page's diagnosis, statistics and waterfall walk one tree.
        self.memo: dict[str, Any] = {}
        for span in self.spans:
            if self.parent(span) is None:
                self.roots.append(span)
            else:
                self._children.setdefault(span.parent_span_id, []).append(span)

    def parent(self, span: S) -> S | None:
        if not span.parent_span_id or span.parent_span_id == span.span_id:
            return None
        return self.by_id.get(span.parent_span_id)

    def children(self, span: S) -> list[S]:
        """The span's children in start order."""
        return self._children.get(span.span_id, [])

    def lineage(self, span: S) -> Iterator[S]:
        """The span, then its ancestors up to its root."""
        seen: set[str] = set()
        current: S | None = span
        while current is not None and current.span_id not in seen:
            seen.add(current.span_id)
            yield current
            current = self.parent(current)

    def root_of(self, span: S) -> S:
        """The top of the span's lineage: its trace root, or where a parent loop closes."""
        *_, top = self.lineage(span)
        return top

    def depth(self, span: S) -> int:
        """How many ancestors the span has: 0 for a root."""
        return sum(1 for _ in self.lineage(span)) - 1

    def descendants(self, span: S) -> Iterator[S]:
        """Everything below the span, depth first, children in start order."""
        for _, descendant in self._walk([span], depth=0):
            if descendant is not span:
                yield descendant

    def walk(self) -> Iterator[tuple[int, S]]:
        """Every span reached from a root as ``(depth, span)``, depth first: the order a
        trace is drawn in, each span followed by its subtree."""
        return self._walk(self.roots, depth=0)

    def nearest(self, span: S, key: str) -> S | None:
        """The span or its nearest ancestor whose attribute ``key`` is set."""
        return next((s for s in self.lineage(span) if _attributes(s).get(key) is not None), None)

    def _walk(self, tops: list[S], depth: int) -> Iterator[tuple[int, S]]:
        # A stack of (depth, span), children pushed in reverse so they come out in order;
        # ``seen`` keeps a parent loop below a reachable span from spinning forever.
        stack = [(depth, span) for span in reversed(tops)]
        seen: set[int] = set()
        while stack:
            level, span = stack.pop()
            if id(span) in seen:
                continue
            seen.add(id(span))
            yield level, span
            stack.extend((level + 1, child) for child in reversed(self.children(span)))


def _attributes(span: Any) -> dict:
    # A plain test row has no attributes; an unsaved ``Span`` may hold None.
    return getattr(span, "attributes", None) or {}
