"""Geometry for the server-drawn SVG charts of the dashboard: a layered layout of the
service graph and the points of a sparkline. Templates only place what is computed here."""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from operator import itemgetter

NODE_WIDTH = 140
NODE_HEIGHT = 40
COLUMN_GAP = 320  # room between layers for the edge labels
LABEL_WIDTH = 132  # an edge label's box (two lines of 10 px text), kept clear of the others
LABEL_HEIGHT = 26
ROW_GAP = 100
MARGIN = 20


@dataclass(frozen=True)
class Node:
    name: str
    layer: int
    x: float
    y: float

    @property
    def cx(self) -> float:
        return self.x + NODE_WIDTH / 2

    @property
    def cy(self) -> float:
        return self.y + NODE_HEIGHT / 2


@dataclass(frozen=True)
class Line:
    path: str  # SVG path data
    label_x: float
    label_y: float
    # A two-way pair (A→B and B→A) is one line with an arrow at each end and one label for
    # both: the pair's line left to right is ``two_way``, its reverse shares it, not ``drawn``.
    two_way: bool = False
    drawn: bool = True


@dataclass(frozen=True)
class GraphLayout:
    width: float
    height: float
    nodes: tuple[Node, ...]
    lines: tuple[Line, ...]  # one per input pair, in the same order
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


def layers(pairs: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each node's layer: the longest path to it from a root (a node nothing calls).
    Edges that close a cycle are left out, so every node gets a layer."""
    targets: dict[str, list[str]] = defaultdict(list)
    nodes: set[str] = set()
    for source, target in pairs:
        if source != target:
            targets[source].append(target)
        nodes |= {source, target}
    calls_in: dict[str, int] = defaultdict(int)
    for source, target in pairs:
        if source != target:
            calls_in[target] += 1
    # Roots first; in a cycle without one, start where calls go out more than they come in.
    starts = sorted(nodes, key=lambda node: (calls_in[node] > 0, calls_in[node] - len(targets[node]), node))
    state: dict[str, str] = {}
    finished: list[str] = []
    acyclic: dict[str, list[str]] = defaultdict(list)

    def visit(node: str) -> None:
        state[node] = "open"
        for target in sorted(set(targets[node])):
            if state.get(target) == "open":  # back edge: closes a cycle
                continue
            acyclic[node].append(target)
            if target not in state:
                visit(target)
        state[node] = "done"
        finished.append(node)

    for node in starts:
        if node not in state:
            visit(node)
    layer = dict.fromkeys(nodes, 0)
    for node in reversed(finished):  # reverse post-order is a topological order
        for target in acyclic[node]:
            layer[target] = max(layer[target], layer[node] + 1)
    return layer


def graph_layout(pairs: Sequence[tuple[str, str]]) -> GraphLayout:
    """Nodes in columns by layer, left to right (Sugiyama's layered layout). An edge that
    skips layers passes through a free row of each column between (a waypoint), so it never
    crosses a node; an edge back to an earlier layer (a cycle) is laid out as its reverse and
    drawn right to left. A two-way pair is one line with both arrows (``Line.two_way``).
    Rows in each column are ordered to minimise crossings (``_order``), and each node's
    lines leave and arrive at points ordered like the rows at their other ends, so two lines
    that share a node do not cross beside it either. One line per pair, with a label point:
    a waypoint's centre, or a spot along a short edge clear of lines, nodes and labels."""
    layer = layers(pairs)
    twins = _twins(pairs, layer)
    drawn = [index for index in range(len(pairs)) if index not in twins]
    columns: dict[int, list] = defaultdict(list)  # layer → node names and waypoints
    for name in sorted(layer):
        columns[layer[name]].append(name)
    chains: list[list] = []  # per drawn pair, keys left to right, whichever way it points
    for index in drawn:
        source, target = pairs[index]
        left, right = (source, target) if layer[target] > layer[source] else (target, source)
        chain: list = [left]
        for column in range(layer[left] + 1, layer[right]):
            waypoint = ("via", index, column)
            columns[column].append(waypoint)
            chain.append(waypoint)
        chain.append(right)
        chains.append(chain)
    order = _order([columns[column] for column in sorted(columns)], chains)
    tallest = max((len(members) for members in order), default=0)
    place: dict[object, tuple[float, float]] = {}
    for column, members in enumerate(order):
        top = MARGIN + (tallest - len(members)) * ROW_GAP / 2  # a short column sits mid-height
        place.update(
            (key, (MARGIN + column * COLUMN_GAP, top + row * ROW_GAP)) for row, key in enumerate(members)
        )
    nodes = tuple(
        Node(name, layer[name], *place[name])
        for members in order
        for name in members
        if isinstance(name, str)
    )
    ports = _ports(chains, place)
    drawn_lines = [
        _line(chain, place, ports, k, backward=chain[0] != pairs[index][0])
        for k, (index, chain) in enumerate(zip(drawn, chains, strict=True))
    ]
    _spread_labels(chains, drawn_lines, place)
    lines: dict[int, Line] = {}
    two_way = set(twins.values())
    for index, line in zip(drawn, drawn_lines, strict=True):
        lines[index] = replace(line, two_way=index in two_way)
    for back, forward in twins.items():
        lines[back] = replace(lines[forward], drawn=False)
    return GraphLayout(
        width=2 * MARGIN + max(len(order) - 1, 0) * COLUMN_GAP + NODE_WIDTH,
        height=2 * MARGIN + max(tallest - 1, 0) * ROW_GAP + NODE_HEIGHT,
        nodes=nodes,
        lines=tuple(lines[index] for index in range(len(pairs))),
    )


def _twins(pairs: Sequence[tuple[str, str]], layer: dict[str, int]) -> dict[int, int]:
    """The two-way pairs (A→B and B→A): each reverse's index → the index of the pair's edge
    that runs left to right, whose line draws both. Two lines side by side would put two
    labels on top of each other (a task and its reply through the queues)."""
    index_of = {pair: index for index, pair in enumerate(pairs)}
    twins: dict[int, int] = {}
    for index, (source, target) in enumerate(pairs):
        other = index_of.get((target, source))
        if other is None or other <= index or source == target:
            continue
        forward, back = (index, other) if layer[target] >= layer[source] else (other, index)
        twins[back] = forward
    return twins


# The most work the exact search may take (pairs of orders of neighbouring columns, times
# pairs of lines between them; about 0.15 s at the limit); past it (a graph far larger than
# the shop's, 9,594) the sweeps of ``_swept_order`` decide.
EXACT_BUDGET = 20_000


def _order(columns: list[list], chains: list[list]) -> list[list]:
    """The rows of each column: the order with the fewest crossings, then the shortest
    lines, when trying every one is cheap enough; else a good one."""
    if not columns:
        return []
    gaps: list[list[tuple[object, object]]] = [[] for _ in columns]
    column_of = {key: index for index, members in enumerate(columns) for key in members}
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            gaps[column_of[a]].append((a, b))
    counts = [math.factorial(len(members)) for members in columns]
    work = sum(
        counts[column] * counts[column + 1] * len(gaps[column]) ** 2 for column in range(len(columns) - 1)
    )
    if work <= EXACT_BUDGET:
        return _exact_order(columns, gaps)
    return _swept_order(columns, gaps)


def _gap_cost(gap: list[tuple[object, object]], left: dict, right: dict) -> tuple[int, float]:
    """(crossings, squared rise) of the lines between two columns placed as ``left`` and
    ``right`` (key → y in rows)."""
    lines = [(left[a], right[b]) for a, b in gap]
    crossings = sum(
        1 for i, (a1, b1) in enumerate(lines) for a2, b2 in lines[i + 1 :] if (a1 - a2) * (b1 - b2) < 0
    )
    return crossings, sum((a - b) ** 2 for a, b in lines)


def _exact_order(columns: list[list], gaps: list[list[tuple[object, object]]]) -> list[list]:
    """The best orders by dynamic programming over the columns: a gap's cost depends only
    on the orders of the two columns beside it, so each order of a column keeps the best
    way to reach it from the left."""
    tallest = max(len(members) for members in columns)

    @functools.cache
    def rows(order: tuple) -> dict[object, float]:
        top = (tallest - len(order)) / 2  # as drawn: a short column sits mid-height
        return {key: top + row for row, key in enumerate(order)}

    # order of the column → (cost so far, orders of the columns so far)
    best: dict[tuple, tuple[tuple[int, float], list[tuple]]] = {
        order: ((0, 0.0), [order]) for order in itertools.permutations(sorted(columns[0], key=str))
    }
    for column in range(1, len(columns)):
        reached: dict[tuple, tuple[tuple[int, float], list[tuple]]] = {}
        for order in itertools.permutations(sorted(columns[column], key=str)):
            right = rows(order)
            candidates = (
                (_added(cost, _gap_cost(gaps[column - 1], rows(previous), right)), [*orders, order])
                for previous, (cost, orders) in best.items()
            )
            reached[order] = min(candidates, key=itemgetter(0))  # the first of equals wins
        best = reached
    _cost, orders = min(best.values(), key=itemgetter(0))
    return [list(order) for order in orders]


def _added(a: tuple[int, float], b: tuple[int, float]) -> tuple[int, float]:
    return a[0] + b[0], a[1] + b[1]


def _swept_order(columns: list[list], gaps: list[list[tuple[object, object]]]) -> list[list]:
    """Sweeps placing each key at the mean row of its neighbours in the column before (then
    after), each followed by swaps of neighbouring rows that remove crossings; the order
    with the fewest crossings seen wins."""
    left: dict[object, list] = defaultdict(list)
    right: dict[object, list] = defaultdict(list)
    for gap in gaps:
        for a, b in gap:
            right[a].append(b)
            left[b].append(a)
    order = [sorted(members, key=str) for members in columns]

    def positions() -> dict[object, int]:
        return {key: row for members in order for row, key in enumerate(members)}

    def crossings(gap: int, position: dict[object, int]) -> int:
        return _gap_cost(gaps[gap], position, position)[0]

    def total() -> int:
        position = positions()
        return sum(crossings(gap, position) for gap in range(len(columns)))

    best, best_count, since_best = [list(m) for m in order], total(), 0
    for sweep in range(16):
        if best_count == 0:
            break
        downward = sweep % 2 == 0
        neighbours = left if downward else right
        sequence = range(1, len(order)) if downward else range(len(order) - 2, -1, -1)
        for column in sequence:
            position = positions()
            current = {key: row for row, key in enumerate(order[column])}
            order[column].sort(
                key=lambda key: (
                    _mean([position[k] for k in neighbours[key]]) if neighbours[key] else current[key],
                    current[key],
                )
            )
        _transpose(order, crossings, positions)
        count = total()
        if count < best_count:
            best, best_count, since_best = [list(m) for m in order], count, 0
        else:
            since_best += 1
            if since_best == 4:  # a down and an up sweep twice over found nothing better
                break
    return best


def _transpose(order: list[list], crossings, positions) -> None:
    """Swaps neighbouring rows of a column while that removes crossings on either side."""
    position = positions()
    improved = True
    rounds = 0
    while improved and rounds < 20:
        improved, rounds = False, rounds + 1
        for column, members in enumerate(order):
            gaps = [gap for gap in (column - 1, column) if 0 <= gap < len(order) - 1]
            for row in range(len(members) - 1):
                upper, lower = members[row], members[row + 1]
                before = sum(crossings(gap, position) for gap in gaps)
                position[upper], position[lower] = row + 1, row
                if sum(crossings(gap, position) for gap in gaps) < before:
                    members[row], members[row + 1] = lower, upper
                    improved = True
                else:
                    position[upper], position[lower] = row, row + 1


def _ports(
    chains: list[list], place: dict[object, tuple[float, float]]
) -> dict[tuple[int, object, str], float]:
    """Where each line meets each node's side: (chain, key, "in" or "out") → y. A node's
    lines on one side are spread over its height in the order of the rows at their other
    ends (then by edge), so lines sharing a node leave it without crossing."""
    sides: dict[tuple[object, str], list[tuple[float, int]]] = defaultdict(list)
    for index, chain in enumerate(chains):
        for a, b in zip(chain, chain[1:], strict=False):
            sides[a, "out"].append((place[b][1], index))
            sides[b, "in"].append((place[a][1], index))
    ports: dict[tuple[int, object, str], float] = {}
    for (key, side), ends in sides.items():
        ends.sort()
        for slot, (_, index) in enumerate(ends):
            ports[index, key, side] = place[key][1] + NODE_HEIGHT * (slot + 1) / (len(ends) + 1)
    return ports


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


MAX_BESIDE_SLOPE = 0.5  # a label beside a steeper line would sit 50 px or more from it
# Where along its line a short edge's label may sit, most wanted first.
LABEL_SPOTS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)


def _box(x: float, y: float, width: float, height: float) -> tuple[float, float, float, float]:
    return x - width / 2, y - height / 2, x + width / 2, y + height / 2


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _spread_labels(chains: list[list], lines: list[Line], place: dict[object, tuple[float, float]]) -> None:
    """Places each short edge's label beside its line where it crosses no line, covers no
    node and no other label, at the first such spot along it (``LABEL_SPOTS``); else on its
    line (a white halo under the text), slid along it clear of nodes and labels: several
    lines fanning out of one node would otherwise stack their labels at the same middle. A
    waypoint's label stays on its waypoint, a row of its own."""
    taken = [
        _box(x + NODE_WIDTH / 2, y + NODE_HEIGHT / 2, NODE_WIDTH, NODE_HEIGHT)
        for key, (x, y) in place.items()
        if isinstance(key, str)
    ]
    short = []
    for index, chain in enumerate(chains):
        if len(chain) > 2:
            taken.append(_box(lines[index].label_x, lines[index].label_y, LABEL_WIDTH, LABEL_HEIGHT))
        else:
            short.append(index)
    short.sort(key=lambda i: (lines[i].label_y, i))
    segments = [segment for line in lines for segment in itertools.pairwise(_path_points(line.path))]
    options = []  # per short edge, the boxes it may take, most wanted first
    for index in short:
        line = lines[index]
        (x1, y1), (x2, y2) = _path_points(line.path)
        # Above or below the line, by enough that a sloping line stays clear of the box's
        # near corners too; a steep line's label would sit too far off to be read as its
        # own, so it goes on the line.
        slope = abs(y2 - y1) / max(abs(x2 - x1), 1)
        clearance = LABEL_HEIGHT / 2 + 3 + slope * LABEL_WIDTH / 2
        sides = (-1, 1) if slope <= MAX_BESIDE_SLOPE else ()
        beside = [(t, side * clearance) for t in LABEL_SPOTS for side in sides]
        on = [(t, 0.0) for t in LABEL_SPOTS]
        spots = [(x1 + t * (x2 - x1), y1 + t * (y2 - y1) + dy) for t, dy in beside + on]
        boxes = [(x, y, _box(x, y, LABEL_WIDTH, LABEL_HEIGHT)) for x, y in spots]
        clear = [spot for spot in boxes[: len(beside)] if not any(_cuts(s, spot[2]) for s in segments)]
        options.append(clear + boxes[len(beside) :])  # beside a line, clear of all, first
    chosen = _first_fit(options, taken)
    for index, choice in zip(short, chosen, strict=True):
        x, y, _ = options[short.index(index)][choice]
        lines[index] = replace(lines[index], label_x=round(x, 1), label_y=round(y, 1))


# The most placements ``_first_fit`` tries before it gives up on a clear arrangement.
FIT_BUDGET = 3_000


def _first_fit(options: list[list[tuple[float, float, tuple]]], taken: list[tuple]) -> list[int]:
    """A spot per label such that no two labels and no label and node overlap: a depth-first
    search taking each label's most wanted spot that still fits. Without one within the
    budget, each label in turn takes its first spot clear of those before it, or its most
    wanted one."""
    chosen: list[int] = []
    budget = [FIT_BUDGET]

    def place(depth: int) -> bool:
        if depth == len(options):
            return True
        for choice, (_x, _y, box) in enumerate(options[depth]):
            budget[0] -= 1
            if budget[0] < 0:
                return False
            placed = [options[d][c][2] for d, c in enumerate(chosen)]
            if any(_overlap(box, other) for other in (*taken, *placed)):
                continue
            chosen.append(choice)
            if place(depth + 1):
                return True
            chosen.pop()
        return False

    if place(0):
        return chosen
    greedy: list[tuple] = list(taken)  # no clear arrangement: each label its first clear spot
    chosen = []
    for spots in options:
        choice = next(
            (c for c, (_x, _y, box) in enumerate(spots) if not any(_overlap(box, o) for o in greedy)), 0
        )
        chosen.append(choice)
        greedy.append(spots[choice][2])
    return chosen


def _cuts(
    segment: tuple[tuple[float, float], tuple[float, float]], box: tuple[float, float, float, float]
) -> bool:
    """Whether a line segment passes through a box (Liang-Barsky clipping)."""
    (x1, y1), (x2, y2) = segment
    low, high = 0.0, 1.0
    for p, q in (
        (x1 - x2, x1 - box[0]),
        (x2 - x1, box[2] - x1),
        (y1 - y2, y1 - box[1]),
        (y2 - y1, box[3] - y1),
    ):
        if p == 0:
            if q < 0:
                return False
        elif p < 0:
            low = max(low, q / p)
        else:
            high = min(high, q / p)
    return low < high


def _path_points(path: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (point.split(",") for point in path[1:].split(" L"))]


def _line(
    chain: list,
    place: dict[object, tuple[float, float]],
    ports: dict[tuple[int, object, str], float],
    index: int,
    *,
    backward: bool,
) -> Line:
    """The polyline through ``chain`` (left to right), reversed for a backward edge so its
    arrow points at its callee; the label at the middle waypoint or the middle of the line."""
    points = [(place[chain[0]][0] + NODE_WIDTH, ports[index, chain[0], "out"])]
    for key in chain[1:-1]:
        x, _ = place[key]
        points += [(x, ports[index, key, "in"]), (x + NODE_WIDTH, ports[index, key, "out"])]
    points.append((place[chain[-1]][0], ports[index, chain[-1], "in"]))
    if len(chain) > 2:
        x, y = place[chain[len(chain) // 2]]
        # above the line's level stretch through the waypoint, in its row's free room
        label_x, label_y = x + NODE_WIDTH / 2, y + NODE_HEIGHT / 2 - LABEL_HEIGHT / 2 - 3
    else:
        (x1, y1), (x2, y2) = points
        label_x, label_y = (x1 + x2) / 2, (y1 + y2) / 2
    if backward:
        points.reverse()
    path = "M" + " L".join(f"{x:.0f},{y:.0f}" for x, y in points)
    return Line(path, label_x, label_y)


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 24) -> str:
    """``points`` of an SVG polyline through ``values`` (missing ones skipped), scaled so
    the largest value touches the top and zero the bottom."""
    present = [value for value in values if value is not None]
    top = max(present, default=0) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{index * step:.1f},{height - 1 - (height - 2) * value / top:.1f}"
        for index, value in enumerate(values)
        if value is not None
    )
