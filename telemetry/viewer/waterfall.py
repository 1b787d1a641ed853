"""What the trace page draws, from a trace's spans and log records: rows nested by parent,
bars to scale, a stable colour per service, the critical path and the root cause.

Pure functions over ``Span`` and ``LogRecord`` rows; no database access.

A large trace (a span with thousands of children, a chain thousands deep) is not drawn
whole at first: at most ``MAX_CHILDREN_DRAWN`` children of a span and ``MAX_ROWS_DRAWN``
rows in all, the rest of each span's subtree summed up in one ``Elided`` row with a link
that draws everything. Errors and the root cause's lineage are drawn past a span's
children limit, so what the page is about is never left out.

A trace of more than ``FOLD_OVER`` spans opens folded: a span's children stay open when
an error is below it or when it is on the critical path, unless they are repeats
(``REPEATS`` or more children of one name: a loop of statements, an N+1); every other
subtree is folded, one click (or key) away. A folded subtree is not drawn: one ``Folded``
row counts it, and unfolding the span fetches its rows (``waterfall(..., subtrees=…)``), so
the limits count drawn rows only and a ``Row`` is built for a drawn span only. Find works
over every span (``find_spans``), giving the way to a match the page has not drawn.

A task retried within the trace is drawn as siblings in time order, each run labelled
"attempt n": Celery publishes a retry from inside the failing run, so by parent the
attempts nest as a staircase. The drawing moves a later run beside the first; its
details, the diagnosis and the critical path keep the recorded parent.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from instrumentation import attributes
from telemetry.diagnosis.critical_path import critical_path
from telemetry.diagnosis.root_cause import fault_of, first_error
from telemetry.diagnosis.spans import exception_event, note, task_name
from telemetry.models import LogRecord, Span
from telemetry.tree import SpanTree

# Distinct colours, none red (red marks errors). The known apps land on different ones.
PALETTE = (
    "#9c755f",
    "#c9a227",
    "#4e79a7",
    "#499894",
    "#f28e2b",
    "#6f9fd8",
    "#b07aa1",
    "#59a14f",
    "#3f8f8a",
    "#8cb369",
    "#d37295",
    "#79706e",
)


# How much of a large trace is drawn at first (see the module docstring); ``draw_all`` lifts it.
MAX_CHILDREN_DRAWN = 100
MAX_ROWS_DRAWN = 1500
# A trace of more spans than this opens folded (see the module docstring).
FOLD_OVER = 150
# This many children of one name, at least half of a span's children, are repeats.
REPEATS = 5
# Indentation stops growing here: a chain thousands deep stays on the page.
MAX_INDENT = 40

_HEX32 = re.compile(r"[0-9a-f]{32}")


def service_colour(service: str) -> str:
    """The same colour for a service on every page and in every process."""
    digest = hashlib.sha1(service.encode(), usedforsecurity=False).hexdigest()
    return PALETTE[int(digest[:8], 16) % len(PALETTE)]


def exception_of(span: Span) -> dict | None:
    """The first exception recorded on the span: ``type``, ``message``, ``stacktrace``."""
    exception = exception_event(span)
    if exception is None:
        return None
    if not isinstance(exception, dict):
        return None
    return {
        "type": shown(exception.get("exception.type", "")),
        "message": shown(exception.get("exception.message", "")),
        "stacktrace": shown(exception.get("exception.stacktrace", "")),
    }


def shown(value: object) -> str:
    """A stored value as the page prints it: a list of plain values (``db.summary.writes``)
    comma-separated, other lists and mappings as JSON, not Python's repr. Never raises: a
    value nested too deep to encode (possible in a stored span) is named rather than printed."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    try:
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False, default=str)
        return str(value)
    except (RecursionError, ValueError):
        return "(nested too deeply to show)"


def items(mapping: object) -> list[tuple[str, str]]:
    """A stored mapping's (key, value) pairs, sorted, ready to print. Prepared here because
    a template's ``mapping.items`` finds a key named ``items`` (or ``keys``…) before the
    method, and because a stored span is not trusted to hold a mapping at all."""
    if not isinstance(mapping, dict):
        return []
    return sorted((str(key), shown(value)) for key, value in mapping.items())


def _event_view(event: object, start: int) -> dict:
    """An event as the details show it: name, offset from the trace's start, exception
    fields and attribute pairs."""
    event = event if isinstance(event, dict) else {}
    attributes = event.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    time_ns = event.get("time_ns")
    time_ns = time_ns if isinstance(time_ns, int) and not isinstance(time_ns, bool) and time_ns else start
    return {
        "name": shown(event.get("name", "")),
        "offset_ms": (time_ns - start) / 1e6,
        "exception": {
            key: shown(attributes.get(f"exception.{key}", "")) for key in ("type", "message", "stacktrace")
        },
        "attribute_items": items(attributes),
    }


def _link_view(link: object) -> dict:
    """A link as the details show it, ``addressable`` when its trace id can name a trace
    page (a stored link may hold an empty or malformed id, which ``{% url %}`` refuses)."""
    link = link if isinstance(link, dict) else {}
    trace_id, span_id = shown(link.get("trace_id", "")), shown(link.get("span_id", ""))
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "addressable": _HEX32.fullmatch(trace_id) is not None,
        "attribute_items": items(link.get("attributes")),
    }


def root_cause(spans: list[Span]) -> Span | None:
    """Where the first error started (the diagnosis's definition, see telemetry.diagnosis.analysis)."""
    return first_error(SpanTree(spans))


def _stored_list(value: object) -> list:
    return value if isinstance(value, list) else []


@dataclass
class Row:
    """One span of the waterfall."""

    span: Span
    depth: int
    parent_id: str  # the span it is drawn under (see ``placed``), "" for a top row
    offset_ms: float
    offset_pct: float
    width_pct: float
    colour: str
    child_count: int = 0
    critical: bool = False
    error_below: bool = False  # the span or one of its descendants is an error
    repeats: bool = False  # most of its children share one name (see ``REPEATS``)
    folded: bool = False  # its children start hidden
    hidden: bool = False  # a drawn ancestor is folded
    attempt: int | None = None  # a retried task's run: which attempt it is
    retries: int | None = None  # a publish from inside a run: the attempt it delivered
    root_cause: bool = False
    leads_to_cause: bool = False  # the root cause or one of its ancestors
    exception: dict | None = None
    logs: list[LogRecord] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # the span's events, with ``offset_ms``

    @property
    def duration_ms(self) -> float:
        return self.span.duration_ns / 1e6

    @property
    def cpu_label(self) -> str:
        """The CPU its thread spent (``threadline.cpu_ms``, on requests and task runs) and
        what that says: "12.000 ms, 4% of its duration: mostly waiting"; "" without one."""
        cpu_ms = self.span.attributes.get(attributes.CPU_MS)
        if not isinstance(cpu_ms, int | float) or isinstance(cpu_ms, bool):
            return ""
        if self.duration_ms <= 0:
            return f"{cpu_ms:.3f} ms"
        share = min(cpu_ms / self.duration_ms, 1.0)
        verdict = "mostly waiting" if share < 0.5 else "mostly computing"
        return f"{cpu_ms:.3f} ms, {share:.0%} of its duration: {verdict}"

    @property
    def indent(self) -> int:
        return min(self.depth, MAX_INDENT)

    # Formatted here rather than with template filters: the page draws hundreds of rows,
    # and floatformat/stringformat/truncatechars were most of its rendering time.
    @property
    def flags(self) -> str:
        """The row's classes after its base one: error, critical, selected."""
        return "".join(
            name
            for name, on in (
                (" error", self.span.status == "ERROR"),
                (" critical", self.critical),
                (" selected", self.root_cause),
            )
            if on
        )

    @property
    def bar_flags(self) -> str:
        return self.flags.replace(" selected", "")

    @property
    def duration_label(self) -> str:
        return f"{self.duration_ms:.1f} ms"

    @property
    def bar_style(self) -> str:
        return f"left:{self.offset_pct:.4f}%;width:{self.width_pct:.4f}%;background:{self.colour}"

    @property
    def short_note(self) -> str:
        note = self.note
        return note if len(note) <= 90 else note[:89] + "…"

    @property
    def note(self) -> str:
        """What the name leaves out: a statement's text, an outgoing call's URL."""
        return note(self.span)

    @property
    def attribute_items(self) -> list[tuple[str, str]]:
        return items(self.span.attributes)

    @property
    def resource_items(self) -> list[tuple[str, str]]:
        return items(self.span.resource)

    @property
    def links(self) -> list[dict]:
        return [_link_view(link) for link in _stored_list(self.span.links)]


@dataclass
class Elided:
    """The spans of ``parent``'s subtree left undrawn: how many, and how many are errors."""

    parent: Row | None  # None: roots past the rows limit (a partial trace of many roots)
    spans: int = 0
    errors: int = 0
    hidden: bool = False  # its span is folded or hidden


@dataclass
class Folded:
    """A folded span's subtree, not sent with the page: one row that counts it, replaced by
    the subtree's rows (``waterfall(..., subtrees=[span_id])``) when the span is unfolded."""

    parent: Row
    spans: int = 0
    errors: int = 0


@dataclass
class Waterfall:
    rows: list[Row]  # the rows built: the spans drawn, in drawing order
    start_ns: int
    total_ns: int
    services: list[tuple[str, str]]  # (service, colour)
    error_count: int
    root_cause: Row | None  # built for the root cause's card even where it is not drawn
    root_cause_fault: str  # the injected fault on the root cause or its nearest ancestor
    ticks: list[tuple[float, float]]  # (percent, ms)
    orphan_logs: list[LogRecord]  # written in spans the store does not hold
    drawn: list[Row | Elided | Folded]  # what the page draws: rows, what is left out, what is folded
    elided: int  # spans not drawn (left out by the limits; folded subtrees not counted)
    folded: int = 0  # subtrees folded at first (a large trace)
    span_count: int = 0  # every span of the trace
    folded_spans: int = 0  # spans inside the folded subtrees, sent when unfolded
    parts: dict[str, list[Row | Elided | Folded]] = field(default_factory=dict)  # by subtree asked for

    @property
    def partial(self) -> bool:
        """Some spans are not in the page: find asks the server."""
        return bool(self.elided or self.folded_spans)


def waterfall(
    spans: list[Span] | SpanTree[Span],
    logs: Iterable[LogRecord] = (),
    *,
    draw_all: bool = False,
    subtrees: Sequence[str] = (),
    show: str = "",
    unfold: bool = False,
    children_limit: int = MAX_CHILDREN_DRAWN,
    rows_limit: int = MAX_ROWS_DRAWN,
) -> Waterfall:
    """The page's view of a trace; ``draw_all`` draws every span, however many (a large
    trace's folded subtrees then come hidden rather than left for later).

    ``subtrees``: only the rows below these spans (what unfolding them fetches), each
    span's in ``parts``, the rows limit shared (a span past it is left out of ``parts``:
    still folded). ``show``: the
    lineage of that span is drawn open and past the children limit (find and deep links).
    ``unfold``: nothing is folded ("unfold all"). Rows are built for the drawn spans only:
    the work per span not drawn is a few dictionary lookups. Takes the trace's spans or
    its tree."""
    tree = spans if isinstance(spans, SpanTree) else SpanTree(spans)
    spans = tree.spans
    start, total = time_bounds(spans)
    on_path = critical_path(tree)
    cause = first_error(tree)
    drawing, attempts, retries = placed(tree)
    lineage = drawing.lineage(drawing.by_id[cause.span_id]) if cause else iter(())
    cause_lineage = {place.span_id for place in lineage}
    shown_lineage = (
        {place.span_id for place in drawing.lineage(drawing.by_id[show])} if show in drawing.by_id else set()
    )
    errors_above = _error_lineages(drawing)
    sizes, errors_in = _subtree_sizes(drawing)
    logs_by_span: dict[str, list[LogRecord]] = defaultdict(list)
    for record in logs:
        logs_by_span[record.span_id].append(record)
    large = len(tree.spans) > FOLD_OVER

    def build(place: Placed, depth: int) -> Row:
        span = place.span
        kids = drawing.children(place)
        return _row(
            span,
            (start, total),
            depth=depth,
            parent_id=place.parent_span_id if drawing.parent(place) else "",
            critical=span.span_id in on_path,
            logs=logs_by_span.get(span.span_id, []),
            child_count=len(kids),
            error_below=span.span_id in errors_above,
            repeats=_repeats(kids),
            attempt=attempts.get(span.span_id),
            retries=retries.get(span.span_id),
            root_cause=cause is not None and span.span_id == cause.span_id,
            leads_to_cause=span.span_id in cause_lineage,
        )

    limits = (None, None) if draw_all else (children_limit, rows_limit)

    def draw(tops: list[Placed], depth: int, top_row: Row | None, rows_left: int | None) -> list:
        return _draw(
            drawing,
            tops,
            depth,
            build,
            pinned=cause_lineage | shown_lineage,
            opened=shown_lineage - {show},
            fold_subtrees=large and not draw_all and not unfold,
            limits=(limits[0], rows_left),
            sizes=sizes,
            errors_in=errors_in,
            top_parent=top_row,
        )

    parts: dict[str, list[Row | Elided | Folded]] = {}
    if subtrees:
        drawn: list[Row | Elided | Folded] = []
        for span_id in dict.fromkeys(subtrees):
            top = drawing.by_id.get(span_id)
            used = sum(isinstance(item, Row) for item in drawn)
            left = None if limits[1] is None else limits[1] - used
            if top is None or (left is not None and left <= 0):
                continue
            depth = drawing.depth(top) + 1
            parts[span_id] = draw(drawing.children(top), depth, build(top, depth - 1), left)
            drawn += parts[span_id]
    else:
        drawn = draw(drawing.roots, 0, None, limits[1])
    rows = [item for item in drawn if isinstance(item, Row)]
    folded = sum(isinstance(item, Folded) for item in drawn)
    if draw_all and large and not unfold:
        folded = fold(drawn)
    cause_row = next((row for row in rows if row.root_cause), None)
    if cause is not None and cause_row is None and not subtrees:
        place = drawing.by_id[cause.span_id]
        cause_row = build(place, drawing.depth(place))
    return Waterfall(
        rows=rows,
        start_ns=start,
        total_ns=total,
        services=[(name, service_colour(name)) for name in sorted({span.service for span in spans})],
        error_count=sum(span.status == "ERROR" for span in spans),
        root_cause=cause_row,
        root_cause_fault=(fault_of(tree, cause) or "") if cause else "",
        ticks=[(pct, total * pct / 100 / 1e6) for pct in (0, 25, 50, 75, 100)],
        orphan_logs=[
            record
            for span_id, records in logs_by_span.items()
            if span_id not in tree.by_id
            for record in records
        ],
        drawn=drawn,
        elided=sum(item.spans for item in drawn if isinstance(item, Elided)),
        folded=folded,
        span_count=len(tree.spans),
        folded_spans=sum(item.spans for item in drawn if isinstance(item, Folded)),
        parts=parts,
    )


def time_bounds(spans: Iterable[Span]) -> tuple[int, int]:
    """A trace's first start and its length in ns (at least 1: the axis divides by it)."""
    spans = list(spans)
    start = min(span.start_time_ns for span in spans)
    return start, max(max(span.end_time_ns for span in spans) - start, 1)


def _row(
    span: Span,
    bounds: tuple[int, int],
    *,
    depth: int,
    parent_id: str,
    critical: bool,
    logs: list[LogRecord],
    **drawing: Any,
) -> Row:
    """A span's row on the trace's time axis (``bounds``: ``time_bounds``); ``drawing``
    holds what only the waterfall knows (children, attempts, the root cause's lineage)."""
    start, total = bounds
    return Row(
        span=span,
        depth=depth,
        parent_id=parent_id,
        offset_ms=(span.start_time_ns - start) / 1e6,
        offset_pct=100 * (span.start_time_ns - start) / total,
        width_pct=max(0.2, 100 * span.duration_ns / total),
        colour=service_colour(span.service),
        critical=critical,
        exception=exception_of(span),
        logs=logs,
        events=[_event_view(event, start) for event in _stored_list(span.events)],
        **drawing,
    )


def span_row(spans: list[Span], logs: Iterable[LogRecord], span_id: str) -> Row | None:
    """One span's row, as its details show it (the details fetched when a row is opened)."""
    tree = SpanTree(spans)
    span = tree.by_id.get(span_id)
    if span is None:
        return None
    return _row(
        span,
        time_bounds(spans),
        depth=tree.depth(span),
        parent_id=span.parent_span_id,
        critical=span_id in critical_path(tree),
        logs=[record for record in logs if record.span_id == span_id],
    )


def find_spans(spans: list[Span], query: str, limit: int = 1000) -> dict:
    """The spans whose name, app, statement (or URL), error or id holds ``query`` (case
    ignored), in drawing order: the first ``limit`` ids, how many in all, and each one's
    drawn parent up to its root, so the page can unfold the way to a span it has not
    been sent yet."""
    query = query.strip().lower()
    drawing, _, _ = placed(SpanTree(spans))
    matches: list[str] = []
    total = 0
    parents: dict[str, str] = {}
    if not query:
        return {"matches": matches, "total": total, "parents": parents}
    for _, place in drawing.walk():
        if query not in _find_text(place.span):
            continue
        total += 1
        if len(matches) >= limit:
            continue
        matches.append(place.span_id)
        for above in drawing.lineage(place):
            if above.span_id in parents:
                break
            parent = drawing.parent(above)
            parents[above.span_id] = parent.span_id if parent else ""
    return {"matches": matches, "total": total, "parents": parents}


def _find_text(span: Span) -> str:
    exception = exception_of(span)
    parts = [span.service, span.name, note(span), span.span_id]
    if exception:
        parts += [exception["type"], exception["message"]]
    return " ".join(parts).lower()


@dataclass(frozen=True)
class Placed:
    """A span where the waterfall draws it: under ``parent_span_id``, its recorded parent
    or, for a retried task's run, its first attempt's parent."""

    span: Span
    parent_span_id: str

    @property
    def span_id(self) -> str:
        return self.span.span_id

    @property
    def start_time_ns(self) -> int:
        return self.span.start_time_ns

    @property
    def end_time_ns(self) -> int:
        return self.span.end_time_ns

    @property
    def status(self) -> str:
        return self.span.status

    @property
    def name(self) -> str:
        return self.span.name


def placed(tree: SpanTree[Span]) -> tuple[SpanTree[Placed], dict[str, int], dict[str, int]]:
    """The tree the waterfall draws; the attempt number of each run of a task retried
    within the trace; the attempt each retry's publish delivered. A run of attempt 2 or
    later whose lineage holds an earlier run of the same task is placed under the first
    run's parent: the attempts become siblings."""
    moved: dict[str, str] = {}
    attempts: dict[str, int] = {}
    retries: dict[str, int] = {}
    for span in tree.spans:
        number = _attempt(span)
        if number is None or number < 2:
            continue
        task = task_name(span)
        above = itertools.islice(tree.lineage(span), 1, None)
        earlier = [run for run in above if _attempt(run) is not None and task_name(run) == task]
        if not earlier:
            continue
        first = earlier[-1]  # the highest: the first attempt
        parent = tree.parent(first)
        moved[span.span_id] = parent.span_id if parent else ""
        attempts[span.span_id] = number
        attempts[first.span_id] = _attempt(first) or 1
        retries[span.parent_span_id] = number
    drawing = SpanTree(Placed(span, moved.get(span.span_id, span.parent_span_id)) for span in tree.spans)
    return drawing, attempts, retries


def _attempt(span: Span) -> int | None:
    number = span.attributes.get(attributes.TASK_ATTEMPT) if isinstance(span.attributes, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _error_lineages(tree: SpanTree[Placed]) -> set[str]:
    """The ids of every error span and of its ancestors (as drawn)."""
    found: set[str] = set()
    for span in tree.spans:
        if span.status != "ERROR":
            continue
        for above in tree.lineage(span):
            if above.span_id in found:
                break  # the rest of this lineage is in already
            found.add(above.span_id)
    return found


def _repeats(children: list[Placed]) -> bool:
    if len(children) < REPEATS:
        return False
    _, most = Counter(child.name for child in children).most_common(1)[0]
    return most >= REPEATS and 2 * most >= len(children)


def fold(drawn: list[Row | Elided | Folded]) -> int:
    """Folds the drawn rows of a large trace drawn whole (``?all=1``) in place (``folded``,
    ``hidden``): a span with children is folded unless an error is below it, or it is on
    the critical path and its children are not repeats. Returns how many spans it folded.
    (Drawn in part, a folded span's subtree is a ``Folded`` row instead, see ``_draw``.)"""
    folded = 0
    ancestors: list[tuple[int, bool]] = []  # (depth, hides its children) of the drawn ancestors
    for item in drawn:
        if isinstance(item, Folded):
            continue  # not drawn whole: none
        if isinstance(item, Elided):
            # Placed after its span's subtree: hidden with the span's children.
            item.hidden = item.parent is not None and (item.parent.hidden or item.parent.folded)
            continue
        while ancestors and ancestors[-1][0] >= item.depth:
            ancestors.pop()
        item.hidden = bool(ancestors) and ancestors[-1][1]
        item.folded = bool(item.child_count) and not item.error_below and (item.repeats or not item.critical)
        folded += item.folded
        ancestors.append((item.depth, item.hidden or item.folded))
    return folded


def _subtree_sizes(tree: SpanTree[Placed]) -> tuple[dict[str, int], dict[str, int]]:
    """Each span's subtree (itself included): how many spans, how many of them errors."""
    sizes: dict[str, int] = {}
    errors: dict[str, int] = {}
    for _, span in reversed(list(tree.walk())):
        size, failed = 1, int(span.status == "ERROR")
        for kid in tree.children(span):
            size += sizes.get(kid.span_id, 0)
            failed += errors.get(kid.span_id, 0)
        sizes[span.span_id], errors[span.span_id] = size, failed
    return sizes, errors


def _draw(
    tree: SpanTree[Placed],
    tops: list[Placed],
    depth: int,
    build: Callable[[Placed, int], Row],
    *,
    pinned: set[str],
    opened: set[str],
    fold_subtrees: bool,
    limits: tuple[int | None, int | None],
    sizes: dict[str, int],
    errors_in: dict[str, int],
    top_parent: Row | None = None,
) -> list[Row | Elided | Folded]:
    """``tops`` and what is below them as drawn, depth first; a Row is built only for a
    span that is drawn. A span's children past the children limit (errors and ``pinned``
    spans excepted) and every span past the rows limit are left out with their subtrees,
    counted in an ``Elided`` row after their drawn parent's subtree; with
    ``fold_subtrees``, a span's children are folded (one ``Folded`` row counts them) unless
    an error is below it, or it is on the critical path and its children are not repeats,
    or it is in ``opened`` (the way to a span asked for)."""
    children_limit, rows_limit = limits
    out: list[Row | Elided | Folded] = []
    drawn_rows = 0
    top = Elided(parent=top_parent)  # undrawn tops: under the subtree's span, or at the top
    # ("span", depth, place, the Elided its parent's undrawn spans go to) or ("end", Elided).
    stack: list[tuple] = [("span", depth, place, top) for place in reversed(tops)]
    children_drawn: dict[str, int] = defaultdict(int)
    while stack:
        entry = stack.pop()
        if entry[0] == "end":
            if entry[1].spans:
                out.append(entry[1])
            continue
        _, level, place, counted_in = entry
        parent_key = counted_in.parent.span.span_id if counted_in.parent else ""
        keep = place.span_id in pinned or place.status == "ERROR"
        over = (rows_limit is not None and drawn_rows >= rows_limit) or (
            children_limit is not None
            and counted_in.parent is not None
            and children_drawn[parent_key] >= children_limit
            and not keep
        )
        if over:
            counted_in.spans += sizes.get(place.span_id, 1)
            counted_in.errors += errors_in.get(place.span_id, 0)
            continue
        row = build(place, level)
        out.append(row)
        drawn_rows += 1
        children_drawn[parent_key] += 1
        kids = tree.children(place)
        if not kids:
            continue
        if (
            fold_subtrees
            and not row.error_below
            and (row.repeats or not row.critical)
            and place.span_id not in opened
        ):
            row.folded = True
            failed = errors_in.get(place.span_id, 0) - (place.status == "ERROR")
            out.append(Folded(parent=row, spans=sizes.get(place.span_id, 1) - 1, errors=failed))
            continue
        elided = Elided(parent=row)
        stack.append(("end", elided))
        stack.extend(("span", level + 1, kid, elided) for kid in reversed(kids))
    if top.spans:
        out.append(top)
    return out
