"""The geometry of the dashboard's SVG charts: the services graph's layered layout (no line
crosses another, no label covers another or a node, edges back to an earlier layer drawn
back along their reverse) and the sparklines' points. Crossings and overlaps are checked on
the drawn coordinates, not on the layout's own bookkeeping."""

from __future__ import annotations

import itertools
import re

import pytest

from telemetry.dashboard import charts

# The shop's calls since each app has its own queue and worker (issue 13), as the services
# page drew them from a flow run: shop calls the three apps over REST; orders (the checkout's
# own undo) calls payments and inventory and queues finalize for its worker, which asks
# payments' and inventory's workers by task, and they report back by task; reconcile (in
# orders' worker) calls inventory.
SHOP = [
    ("inventory-worker", "orders-worker"),
    ("orders", "inventory"),
    ("orders", "orders-worker"),
    ("orders", "payments"),
    ("orders-worker", "inventory"),
    ("orders-worker", "inventory-worker"),
    ("orders-worker", "payments-worker"),
    ("payments-worker", "orders-worker"),
    ("shop", "inventory"),
    ("shop", "orders"),
    ("shop", "payments"),
]

Point = tuple[float, float]


def segments(path: str) -> list[tuple[Point, Point]]:
    points = [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", path)]
    return list(itertools.pairwise(points))


def cross(s: tuple[Point, Point], t: tuple[Point, Point]) -> bool:
    """Whether two segments cross properly (touching at a shared end does not count)."""
    (p1, p2), (p3, p4) = s, t
    if {p1, p2} & {p3, p4}:
        return False

    def side(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    return side(p1, p2, p3) * side(p1, p2, p4) < 0 and side(p3, p4, p1) * side(p3, p4, p2) < 0


def crossings(layout: charts.GraphLayout) -> list[tuple[int, int]]:
    return [
        (i, j)
        for (i, a), (j, b) in itertools.combinations(enumerate(layout.lines), 2)
        if any(cross(s, t) for s in segments(a.path) for t in segments(b.path))
    ]


def label_boxes(layout: charts.GraphLayout) -> list[tuple[float, float, float, float]]:
    return [
        charts._box(line.label_x, line.label_y, charts.LABEL_WIDTH, charts.LABEL_HEIGHT)
        for line in layout.lines
    ]


def node_boxes(layout: charts.GraphLayout) -> list[tuple[float, float, float, float]]:
    return [(n.x, n.y, n.x + charts.NODE_WIDTH, n.y + charts.NODE_HEIGHT) for n in layout.nodes]


def test_the_shops_graph_has_no_crossing_lines():
    layout = charts.graph_layout(SHOP)
    assert crossings(layout) == []


# The shop's calls before the undo moved to payments' and inventory's workers: orders'
# worker called both apps' APIs, a fan the sweeps do not untangle.
FAN = [
    ("inventory-worker", "orders-worker"),
    ("orders", "orders-worker"),
    ("orders-worker", "inventory"),
    ("orders-worker", "inventory-worker"),
    ("orders-worker", "payments"),
    ("orders-worker", "payments-worker"),
    ("payments-worker", "orders-worker"),
    ("shop", "inventory"),
    ("shop", "orders"),
    ("shop", "payments"),
]


def test_the_sweeps_alone_leave_a_crossing_that_the_exact_search_removes(monkeypatch):
    """Why the exact search: the barycentre sweeps that larger graphs fall back to leave one
    crossing in ``FAN`` (a line skipping to inventory across orders-worker's fan)."""
    assert crossings(charts.graph_layout(FAN)) == []
    monkeypatch.setattr(charts, "EXACT_BUDGET", 0)
    assert crossings(charts.graph_layout(FAN)) != []


def test_the_sweeps_untangle_a_simple_crossing(monkeypatch):
    """Alphabetical rows would cross a→z and b→y; the fallback's sweeps put them apart."""
    monkeypatch.setattr(charts, "EXACT_BUDGET", 0)
    layout = charts.graph_layout([("a", "z"), ("b", "y"), ("r", "a"), ("r", "b")])
    assert crossings(layout) == []


def drawn(layout: charts.GraphLayout, pairs: list) -> list[tuple[tuple[str, str], charts.Line]]:
    return [(pair, line) for pair, line in zip(pairs, layout.lines, strict=True) if line.drawn]


def test_a_two_way_pair_is_one_line_with_one_label():
    """A task and its reply (orders-worker ⇄ payments-worker) are one line, drawn by the
    pair's edge that runs left to right; its reverse shares it and is not drawn again."""
    layout = charts.graph_layout(SHOP)
    line = dict(zip(SHOP, layout.lines, strict=True))
    for worker in ("payments-worker", "inventory-worker"):
        there, back = line["orders-worker", worker], line[worker, "orders-worker"]
        assert there.two_way and there.drawn and not back.drawn and back.path == there.path
    assert sum(line.drawn for line in layout.lines) == len(SHOP) - 2


@pytest.mark.parametrize("pairs", [SHOP, FAN], ids=["shop", "fan"])
def test_no_label_covers_another_label_or_a_node(pairs):
    """Lines fanning out of one node (orders-worker's, orders') get their labels placed
    along them until each sits clear of the others and of every node."""
    layout = charts.graph_layout(pairs)
    lines = drawn(layout, pairs)
    boxes = {
        pair: charts._box(line.label_x, line.label_y, charts.LABEL_WIDTH, charts.LABEL_HEIGHT)
        for pair, line in lines
    }
    overlapping = [(a, b) for a, b in itertools.combinations(boxes, 2) if charts._overlap(boxes[a], boxes[b])]
    assert overlapping == []
    assert [
        pair for pair, box in boxes.items() if any(charts._overlap(box, node) for node in node_boxes(layout))
    ] == []


def test_labels_sit_beside_their_lines_unless_a_line_is_steep():
    """A label sits above or below its line, crossing no line, where there is room; only a
    steep line's label (one beside it would sit too far off to be read as its own) is on
    its line, over a white halo."""
    layout = charts.graph_layout(SHOP)
    lines = drawn(layout, SHOP)
    segments_drawn = [segment for _, line in lines for segment in segments(line.path)]

    def steep(line: charts.Line) -> bool:
        (x1, y1), (x2, y2) = segments(line.path)[0]
        return abs(y2 - y1) / abs(x2 - x1) > charts.MAX_BESIDE_SLOPE

    on_lines = {
        pair
        for pair, line in lines
        if any(
            charts._cuts(s, charts._box(line.label_x, line.label_y, charts.LABEL_WIDTH, charts.LABEL_HEIGHT))
            for s in segments_drawn
        )
    }
    assert on_lines == {pair for pair, line in lines if steep(line) and len(segments(line.path)) == 1}
    assert len(on_lines) <= 2 and ("shop", "orders") not in on_lines


def test_the_graph_fits_a_1280_px_window_unscaled():
    """Four layers of 140 px nodes with room for labels between: under 1,200 px wide."""
    assert charts.graph_layout(SHOP).width <= 1200


def test_layers_follow_the_longest_path_from_the_roots():
    """payments is called by shop (layer 1) and by orders-worker (layer 2): it goes to
    layer 3; a cycle still gives every service a layer."""
    pairs = [
        ("shop", "orders"),
        ("shop", "payments"),
        ("orders", "orders-worker"),
        ("orders-worker", "payments"),
    ]
    assert charts.layers(pairs) == {"shop": 0, "orders": 1, "orders-worker": 2, "payments": 3}
    assert charts.layers([("a", "b"), ("b", "a")]) == {"a": 0, "b": 1}


def test_forward_lines_run_right_and_a_line_back_runs_left():
    """A forward edge leaves its caller's right side for the callee's left side; an edge back
    to an earlier layer (closing a cycle, not a two-way pair) leaves its caller's left side
    for the callee's right side (its arrow, at the path's end, points at the callee)."""
    layout = charts.graph_layout(
        [("shop", "orders"), ("orders", "worker"), ("worker", "shop"), ("client", "shop")]
    )
    node = {n.name: n for n in layout.nodes}
    assert node["client"].x < node["shop"].x < node["orders"].x < node["worker"].x
    forward, _, backward, _ = layout.lines
    (start, *_, end) = [p for s in segments(forward.path) for p in s]
    assert start[0] == node["shop"].x + charts.NODE_WIDTH and end[0] == node["orders"].x
    (start, *_, end) = [p for s in segments(backward.path) for p in s]
    assert start[0] == node["worker"].x and end[0] == node["shop"].x + charts.NODE_WIDTH
    assert crossings(layout) == [] and not any(line.two_way for line in layout.lines)


def test_a_line_skipping_layers_passes_through_free_rows_without_crossing_a_node():
    layout = charts.graph_layout([("a", "b"), ("b", "c"), ("a", "c")])
    skipping = layout.lines[2]
    assert len(segments(skipping.path)) == 3  # in, across b's column, out
    b = next(n for n in layout.nodes if n.name == "b")
    across = segments(skipping.path)[1]
    assert not (b.y <= across[0][1] <= b.y + charts.NODE_HEIGHT)


def test_an_empty_graph_has_no_nodes():
    layout = charts.graph_layout([])
    assert (layout.nodes, layout.lines) == ((), ())


def test_sparkline_points_scale_to_the_largest_value():
    """The largest value touches the top (y=1), zero the bottom; missing values are skipped."""
    assert charts.sparkline([0, 2, None, 1], width=30, height=12) == "0.0,11.0 10.0,1.0 30.0,6.0"


def test_a_graph_too_large_for_the_exact_search_still_gets_every_node_and_line():
    """1 → 7 → 3 services, all to all (crossings unavoidable): the sweeps order it and the
    labels take the first clear spot each, within the page's time."""
    pairs = [("r", f"s{i}") for i in range(7)] + [(f"s{i}", f"t{j}") for i in range(7) for j in range(3)]
    layout = charts.graph_layout(pairs)
    assert {node.name for node in layout.nodes} == {name for pair in pairs for name in pair}
    assert len(layout.lines) == len(pairs)
