"""Geometry for the server-drawn SVG charts of the dashboard: a layered layout of the
service graph and the points of a sparkline. Templates only place what is computed here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

NODE_WIDTH = 140
NODE_HEIGHT = 40
COLUMN_GAP = 280  # room between layers for the edge labels
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
    """Nodes in columns by layer, left to right. An edge that skips layers passes through a
    free row of each column between (a waypoint, as in Sugiyama's layout), so it never
    crosses a node; rows in a column follow the callers' rows to keep lines apart. One line
    per pair, with a label point: a waypoint's centre, or the middle of a short edge."""
    layer = layers(pairs)
    columns: dict[int, list] = defaultdict(list)  # layer → node names and waypoints
    for name in sorted(layer):
        columns[layer[name]].append(name)
    previous: dict[object, list] = defaultdict(list)  # key → keys one column to the left
    chains: list[list] = []
    for index, (source, target) in enumerate(pairs):
        chain: list = [source]
        for column in range(layer[source] + 1, layer[target]):
            waypoint = ("via", index, column)
            columns[column].append(waypoint)
            chain.append(waypoint)
        chain.append(target)
        if layer[target] > layer[source]:
            for left, right in zip(chain, chain[1:], strict=False):
                previous[right].append(left)
        chains.append(chain)
    row: dict[object, int] = {}
    for column in sorted(columns):
        members = columns[column]
        members.sort(
            key=lambda key: (
                _mean([row[k] for k in previous[key] if k in row]),
                isinstance(key, tuple),
                str(key),
            )
        )
        row.update((key, index) for index, key in enumerate(members))

    def point(key) -> tuple[float, float]:
        column = layer[key] if isinstance(key, str) else key[2]
        return MARGIN + column * COLUMN_GAP, MARGIN + row[key] * ROW_GAP

    nodes = tuple(
        Node(name, layer[name], *point(name)) for name in sorted(layer, key=lambda n: (layer[n], row[n]))
    )
    by_name = {node.name: node for node in nodes}
    lines = tuple(
        _line(by_name[chain[0]], by_name[chain[-1]], [point(k) for k in chain[1:-1]]) for chain in chains
    )
    rows = max(row.values(), default=-1) + 1
    return GraphLayout(
        width=2 * MARGIN + max(len(columns) - 1, 0) * COLUMN_GAP + NODE_WIDTH,
        height=2 * MARGIN + max(rows - 1, 0) * ROW_GAP + NODE_HEIGHT + 40,
        nodes=nodes,
        lines=lines,
    )


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def _line(source: Node, target: Node, waypoints: list[tuple[float, float]]) -> Line:
    if target.layer > source.layer:  # forward: right side to left side, through the waypoints
        points = [(source.x + NODE_WIDTH, source.cy)]
        for x, y in waypoints:
            points += [(x, y + NODE_HEIGHT / 2), (x + NODE_WIDTH, y + NODE_HEIGHT / 2)]
        points.append((target.x, target.cy))
        path = "M" + " L".join(f"{x:.0f},{y:.0f}" for x, y in points)
        if waypoints:
            x, y = waypoints[len(waypoints) // 2]
            return Line(path, x + NODE_WIDTH / 2, y + NODE_HEIGHT / 2)
        (x1, y1), (x2, y2) = points
        return Line(path, (x1 + x2) / 2, (y1 + y2) / 2)
    # backward or within a column: bottom to bottom, curving below both
    x1, y1 = source.cx, source.y + NODE_HEIGHT
    x2, y2 = target.cx, target.y + NODE_HEIGHT
    cx, cy = (x1 + x2) / 2, max(y1, y2) + 60
    label_x, label_y = (x1 + 2 * cx + x2) / 4, (y1 + 2 * cy + y2) / 4  # the curve's midpoint
    return Line(f"M{x1:.0f},{y1:.0f} Q{cx:.0f},{cy:.0f} {x2:.0f},{y2:.0f}", label_x, label_y)


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
