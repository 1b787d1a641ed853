"""The trace page's two pictures of the whole trace, drawn on the server as SVG (no script
needed to draw them, so the Content-Security-Policy is kept): the minimap above the
waterfall and the flame graph. Both cover every span, drawn rows or not, and both stay
bounded in size however many spans the trace holds.

The minimap buckets spans into pixel columns per depth band: in each band a column takes
the colour of the first span (in start order) that covers it, runs of one colour become one
rectangle, and columns covered by an error span get a red mark below the band.

The flame graph is an icicle: roots at the top, children below, each frame placed on the
trace's time axis (so a frame's self time is the part not covered by the frames below it).
Siblings narrower than a pixel are merged into one "N small spans" frame (an error and the
spans above it are never merged: they are drawn a pixel wide), and frames deeper
than ``FLAME_MAX_DEPTH`` or past ``FLAME_MAX_FRAMES`` are counted, not drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.html import escape

from core.text import counted
from telemetry.diagnosis.timing import self_times
from telemetry.models import Span
from telemetry.tree import SpanTree
from telemetry.viewer.waterfall import service_colour, time_bounds

MINIMAP_COLUMNS = 600  # the minimap's width in its own units (about one per screen pixel)
MINIMAP_BANDS = 8  # depth bands; deeper spans share the last one
BAND_HEIGHT = 5
BAND_PIXELS = 7  # a band's height on the page: eight bands make a thin strip
ERROR = "#dc2626"

FLAME_WIDTH = 1200  # the flame graph's width in its own units
FLAME_ROW = 17
FLAME_MAX_DEPTH = 60
FLAME_MAX_FRAMES = 2500
LABEL_MIN_WIDTH = 40  # narrower frames carry no text (their title says it all)


def _painter(columns: int) -> tuple[list[str | None], Callable[[int, int, str], None]]:
    """Columns to paint first-come-first-served, each once: a span paints only the columns
    still blank in its range, skipping painted runs (a pointer to the next blank column,
    path-halved), so a band of thousands of overlapping spans costs about one step per column."""
    cells: list[str | None] = [None] * columns
    following = list(range(columns + 1))

    def blank(column: int) -> int:
        while following[column] != column:
            following[column] = following[following[column]]
            column = following[column]
        return column

    def paint(first: int, last: int, colour: str) -> None:
        column = blank(first)
        while column <= last:
            cells[column] = colour
            following[column] = column + 1
            column = blank(column + 1)

    return cells, paint


@dataclass
class Minimap:
    """The minimap's SVG and what it measured."""

    svg: str
    rects: int
    total_ns: int


def minimap(tree: SpanTree[Span], columns: int = MINIMAP_COLUMNS, bands: int = MINIMAP_BANDS) -> Minimap:
    """Every span as a bar on the time axis, bucketed into ``columns`` by depth band."""
    if not tree.spans:
        return Minimap("", 0, 0)
    start, total = time_bounds(tree.spans)
    painters = [_painter(columns) for _ in range(bands)]
    errors = [_painter(columns) for _ in range(bands)]
    colours: dict[str, str] = {}
    for depth, span in tree.walk():
        band = min(depth, bands - 1)
        first = min((span.start_time_ns - start) * columns // total, columns - 1)
        last = max(first, min((span.end_time_ns - start) * columns // total, columns - 1))
        colour = colours.get(span.service) or colours.setdefault(span.service, service_colour(span.service))
        painters[band][1](first, last, colour)
        if span.status == "ERROR":
            errors[band][1](first, last, ERROR)
    used = max((band + 1 for band in range(bands) if any(painters[band][0])), default=1)
    parts: list[str] = []
    for band in range(used):
        y = band * (BAND_HEIGHT + 1)
        for first, width, colour in _runs(painters[band][0]):
            parts.append(
                f'<rect x="{first}" y="{y}" width="{width}" height="{BAND_HEIGHT - 1}" fill="{colour}"/>'
            )
        for first, width, _ in _runs(errors[band][0]):
            parts.append(
                f'<rect class="err" x="{first}" y="{y + BAND_HEIGHT - 1}" width="{width}" '
                f'height="1.5" fill="{ERROR}"/>'
            )
    height = used * (BAND_HEIGHT + 1)
    svg = (
        f'<svg id="minimap-svg" viewBox="0 0 {columns} {height}" preserveAspectRatio="none" '
        f'width="100%" height="{used * BAND_PIXELS}" role="img" aria-label="minimap of every span">'
        + "".join(parts)
        + "</svg>"
    )
    return Minimap(svg, len(parts), total)


def _runs(cells: list[str | None]) -> list[tuple[int, int, str]]:
    """Runs of one colour: (first column, width, colour)."""
    runs: list[tuple[int, int, str]] = []
    for column, colour in enumerate(cells):
        if colour is None:
            continue
        if runs and runs[-1][2] == colour and runs[-1][0] + runs[-1][1] == column:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1, colour)
        else:
            runs.append((column, 1, colour))
    return runs


@dataclass
class Flame:
    """The flame graph's SVG and what it left out."""

    svg: str
    frames: int
    merged: int  # spans drawn inside "N small spans" frames
    left_out: int  # spans below the depth limit or past the frames limit
    depth: int


def flame_graph(tree: SpanTree[Span], width: int = FLAME_WIDTH) -> Flame:
    """The trace as an icicle (see the module docstring), each frame a link to its span."""
    if not tree.spans:
        return Flame("", 0, 0, 0, 0)
    start, total = time_bounds(tree.spans)
    selfs = self_times(tree)
    scale = width / total
    parts: list[str] = []
    merged = left_out = deepest = 0
    erring = _error_lineages(tree)
    # A stack of (depth, siblings to draw); nothing recurses (a chain 20,000 deep is a trace).
    stack: list[tuple[int, list[Span]]] = [(0, tree.roots)]
    while stack:
        depth, siblings = stack.pop()
        if depth >= FLAME_MAX_DEPTH or len(parts) >= FLAME_MAX_FRAMES:
            left_out += sum(1 + _count(tree, span) for span in siblings)
            continue
        deepest = max(deepest, depth + 1)
        small: list[Span] = []
        for index, span in enumerate(siblings):
            if len(parts) >= FLAME_MAX_FRAMES:
                left_out += sum(1 + _count(tree, each) for each in small + siblings[index:])
                small = []
                break
            narrow = (span.end_time_ns - span.start_time_ns) * scale < 1
            if narrow and span.span_id not in erring:  # an error is never merged away
                small.append(span)
                continue
            merged += _flush(small, tree, depth, start, scale, parts)
            small = []
            parts.append(_frame(span, depth, start, scale, selfs.get(span.span_id, 0)))
            children = tree.children(span)
            if children:
                stack.append((depth + 1, children))
        merged += _flush(small, tree, depth, start, scale, parts)
    height = max(deepest, 1) * FLAME_ROW
    svg = (
        # Scaled as a whole (no preserveAspectRatio="none"): labels keep their shape at any width.
        f'<svg id="flame-svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="height:auto" role="img" aria-label="flame graph">' + "".join(parts) + "</svg>"
    )
    return Flame(svg, len(parts), merged, left_out, deepest)


def _flush(
    small: list[Span], tree: SpanTree[Span], depth: int, start: int, scale: float, parts: list[str]
) -> int:
    """Draws narrow siblings as one frame; how many spans it holds (with those below)."""
    if not small:
        return 0
    below = sum(_count(tree, each) for each in small)
    parts.append(_small_frame(small, below, depth, start, scale))
    return len(small) + below


def _error_lineages(tree: SpanTree[Span]) -> set[str]:
    """The error spans and their ancestors: drawn as frames of their own, however narrow."""
    erring: set[str] = set()
    for span in tree.spans:
        if span.status == "ERROR":
            for up in tree.lineage(span):
                if up.span_id in erring:
                    break
                erring.add(up.span_id)
    return erring


def _count(tree: SpanTree[Span], span: Span) -> int:
    return sum(1 for _ in tree.descendants(span))


def _frame(span: Span, depth: int, start: int, scale: float, self_ns: int) -> str:
    x = (span.start_time_ns - start) * scale
    w = max((span.end_time_ns - span.start_time_ns) * scale, 1)
    duration = (span.end_time_ns - span.start_time_ns) / 1e6
    title = f"[{span.service}] {span.name}: {duration:.1f} ms, self {self_ns / 1e6:.1f} ms"
    error = span.status == "ERROR"
    label = ""
    if w >= LABEL_MIN_WIDTH:
        text = span.name if len(span.name) * 7 < w - 6 else span.name[: max(int((w - 6) / 7) - 1, 1)] + "…"
        label = f'<text x="{x + 3:.1f}" y="{depth * FLAME_ROW + 12}">{escape(text)}</text>'
    flags, ident = (" error" if error else ""), escape(span.span_id)
    stroke = f' stroke="{ERROR}" stroke-width="2"' if error else ""
    return (
        f'<a href="#span-{ident}" class="frame{flags}" data-span-id="{ident}">'
        f"<title>{escape(title)}{' (error)' if error else ''}</title>"
        f'<rect x="{x:.1f}" y="{depth * FLAME_ROW}" width="{w:.1f}" height="{FLAME_ROW - 1}" '
        f'fill="{service_colour(span.service)}"{stroke}/>'
        f"{label}</a>"
    )


def _small_frame(spans: list[Span], below: int, depth: int, start: int, scale: float) -> str:
    first = min(span.start_time_ns for span in spans)
    last = max(span.end_time_ns for span in spans)
    x = (first - start) * scale
    w = max((last - first) * scale, 1)
    errors = sum(span.status == "ERROR" for span in spans)
    count = len(spans)
    title = counted(count, "small span") + (f" and {below} below" if below else "")
    title += f", {counted(errors, 'error')}" if errors else ""
    label = ""
    if w >= LABEL_MIN_WIDTH:
        label = f'<text x="{x + 3:.1f}" y="{depth * FLAME_ROW + 12}">{counted(count, "small span")}</text>'
    return (
        f'<g class="frame small"><title>{escape(title)}</title>'
        f'<rect x="{x:.1f}" y="{depth * FLAME_ROW}" width="{w:.1f}" height="{FLAME_ROW - 1}" '
        f'fill="{ERROR if errors else "#cbd5e1"}"/>{label}</g>'
    )
