"""What the trace page draws, from a trace's spans and log records: rows nested by parent,
bars to scale, a stable colour per service, the critical path and the root cause.

Pure functions over ``Span`` and ``LogRecord`` rows; no database access.

A large trace (a span with thousands of children, a chain thousands deep) is not drawn
whole at first: at most ``MAX_CHILDREN_DRAWN`` children of a span and ``MAX_ROWS_DRAWN``
rows in all, the rest of each span's subtree summed up in one ``Elided`` row with a link
that draws everything. Errors and the root cause's lineage are drawn past a span's
children limit, so what the page is about is never left out.

A trace of more than ``FOLD_OVER`` spans opens folded (``fold``): a span's children stay
open when an error is below it or when it is on the critical path, unless they are
repeats (``REPEATS`` or more children of one name: a loop of statements, an N+1); every
other subtree is folded, one click (or key) away.

A task retried within the trace is drawn as siblings in time order, each run labelled
"attempt n": Celery publishes a retry from inside the failing run, so by parent the
attempts nest as a staircase. The drawing moves a later run beside the first; its
details, the diagnosis and the critical path keep the recorded parent.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    """A stored value as the page prints it. Never raises: a value nested too deep for
    ``repr`` (possible in a stored span) is named rather than printed."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except RecursionError:
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
class Waterfall:
    rows: list[Row]  # every span, in drawing order
    start_ns: int
    total_ns: int
    services: list[tuple[str, str]]  # (service, colour)
    error_count: int
    root_cause: Row | None
    root_cause_fault: str  # the injected fault on the root cause or its nearest ancestor
    ticks: list[tuple[float, float]]  # (percent, ms)
    orphan_logs: list[LogRecord]  # written in spans the store does not hold
    drawn: list[Row | Elided]  # what the page draws: the rows, or some and what is left out
    elided: int  # spans not drawn
    folded: int = 0  # subtrees folded at first (a large trace)


def waterfall(spans: list[Span], logs: Iterable[LogRecord] = (), *, draw_all: bool = False) -> Waterfall:
    """The page's view of a trace; ``draw_all`` draws every span, however many."""
    tree = SpanTree(spans)
    start = min(span.start_time_ns for span in spans)
    total = max(max(span.end_time_ns for span in spans) - start, 1)
    on_path = critical_path(tree)
    cause = first_error(tree)
    drawing, attempts, retries = placed(tree)
    lineage = drawing.lineage(drawing.by_id[cause.span_id]) if cause else iter(())
    cause_lineage = {place.span_id for place in lineage}
    errors_above = _error_lineages(drawing)
    logs_by_span: dict[str, list[LogRecord]] = defaultdict(list)
    for record in logs:
        logs_by_span[record.span_id].append(record)
    rows = [
        Row(
            span=span,
            depth=depth,
            parent_id=place.parent_span_id if drawing.parent(place) else "",
            offset_ms=(span.start_time_ns - start) / 1e6,
            offset_pct=100 * (span.start_time_ns - start) / total,
            width_pct=max(0.2, 100 * span.duration_ns / total),
            colour=service_colour(span.service),
            child_count=len(drawing.children(place)),
            critical=span.span_id in on_path,
            error_below=span.span_id in errors_above,
            repeats=_repeats(drawing.children(place)),
            attempt=attempts.get(span.span_id),
            retries=retries.get(span.span_id),
            root_cause=cause is not None and span.span_id == cause.span_id,
            leads_to_cause=span.span_id in cause_lineage,
            exception=exception_of(span),
            logs=logs_by_span.pop(span.span_id, []),
            events=[_event_view(event, start) for event in _stored_list(span.events)],
        )
        for depth, place in drawing.walk()
        for span in (place.span,)
    ]
    drawn: list[Row | Elided] = list(rows) if draw_all else drawn_rows(rows)
    folded = fold(drawn) if len(rows) > FOLD_OVER else 0
    return Waterfall(
        rows=rows,
        start_ns=start,
        total_ns=total,
        services=[(name, service_colour(name)) for name in sorted({span.service for span in spans})],
        error_count=sum(span.status == "ERROR" for span in spans),
        root_cause=next((row for row in rows if row.root_cause), None),
        root_cause_fault=(fault_of(tree, cause) or "") if cause else "",
        ticks=[(pct, total * pct / 100 / 1e6) for pct in (0, 25, 50, 75, 100)],
        orphan_logs=[record for records in logs_by_span.values() for record in records],
        drawn=drawn,
        elided=sum(item.spans for item in drawn if isinstance(item, Elided)),
        folded=folded,
    )


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


def fold(drawn: list[Row | Elided]) -> int:
    """Folds the drawn rows of a large trace in place (``folded``, ``hidden``): a span with
    children is folded unless an error is below it, or it is on the critical path and its
    children are not repeats. Returns how many spans it folded."""
    folded = 0
    ancestors: list[tuple[int, bool]] = []  # (depth, hides its children) of the drawn ancestors
    for item in drawn:
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


def drawn_rows(
    rows: list[Row], *, children_limit: int = MAX_CHILDREN_DRAWN, rows_limit: int = MAX_ROWS_DRAWN
) -> list[Row | Elided]:
    """``rows`` (in walk order) as drawn: a span's children past ``children_limit`` (errors
    and the root cause's lineage excepted) and every row past ``rows_limit`` are left out
    with their subtrees, each span's undrawn spans summed in an ``Elided`` row placed after
    its drawn subtree."""
    out: list[Row | Elided] = []
    open_rows: list[tuple[Row, Elided]] = []  # the drawn ancestors of the current row
    owner: dict[str, Elided] = {}  # an undrawn span's id -> where it is counted
    children_drawn: Counter[str] = Counter()
    top = Elided(parent=None)
    for row in rows:
        span = row.span
        while open_rows and open_rows[-1][0].depth >= row.depth:
            _, elided = open_rows.pop()
            if elided.spans:
                out.append(elided)
        parent_id = row.parent_id if row.depth else ""
        pinned = row.leads_to_cause or span.status == "ERROR"
        over = len(out) >= rows_limit or (
            bool(row.depth) and children_drawn[parent_id] >= children_limit and not pinned
        )
        counted_in = owner.get(parent_id) if row.depth else None
        if counted_in is None and over:
            counted_in = open_rows[-1][1] if row.depth and open_rows else top
        if counted_in is not None:
            owner[span.span_id] = counted_in
            counted_in.spans += 1
            counted_in.errors += span.status == "ERROR"
            continue
        out.append(row)
        children_drawn[parent_id] += 1
        open_rows.append((row, Elided(parent=row)))
    out.extend(elided for _, elided in reversed(open_rows) if elided.spans)
    if top.spans:
        out.append(top)
    return out
