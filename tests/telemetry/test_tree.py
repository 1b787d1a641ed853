"""The span tree (telemetry/tree.py): the one parent-to-children model of a trace."""

from __future__ import annotations

from dataclasses import dataclass, field

from telemetry.tree import SpanTree


@dataclass
class S:
    span_id: str
    parent_span_id: str
    start_time_ns: int
    end_time_ns: int = 0
    attributes: dict = field(default_factory=dict)


def checkout() -> SpanTree[S]:
    """request → (reserve → insert, publish → run → update), given out of order."""
    return SpanTree(
        [
            S("update", "run", 60, attributes={"db.statement": "UPDATE"}),
            S("run", "publish", 50, attributes={"celery.attempt": 1}),
            S("insert", "reserve", 15),
            S("request", "", 0, attributes={"fault.name": "slow"}),
            S("publish", "request", 40),
            S("reserve", "request", 10),
        ]
    )


def ids(spans) -> list[str]:
    return [span.span_id for span in spans]


def test_spans_are_in_start_order_and_children_hang_off_their_parent():
    """Whatever order the spans come in, the tree holds them by start, children too."""
    tree = checkout()
    request = tree.by_id["request"]
    assert ids(tree.spans) == ["request", "reserve", "insert", "publish", "run", "update"]
    assert ids(tree.roots) == ["request"]
    assert ids(tree.children(request)) == ["reserve", "publish"]
    assert tree.parent(tree.by_id["reserve"]) is request and tree.parent(request) is None
    assert tree.children(tree.by_id["update"]) == []


def test_the_walk_is_depth_first_with_depths():
    """The order a trace is drawn in: each span followed by its subtree."""
    walked = [(depth, span.span_id) for depth, span in checkout().walk()]
    assert walked == [
        (0, "request"),
        (1, "reserve"),
        (2, "insert"),
        (1, "publish"),
        (2, "run"),
        (3, "update"),
    ]


def test_lineage_depth_root_and_descendants():
    """Up from a span to its root, and down from a span to everything below it."""
    tree = checkout()
    update = tree.by_id["update"]
    assert ids(tree.lineage(update)) == ["update", "run", "publish", "request"]
    assert tree.depth(update) == 3 and tree.depth(tree.by_id["request"]) == 0
    assert tree.root_of(update) is tree.by_id["request"]
    assert ids(tree.descendants(tree.by_id["publish"])) == ["run", "update"]


def test_nearest_finds_the_span_or_its_closest_ancestor_with_the_attribute():
    """The attempt a statement belongs to, the fault over it; None when no span has it."""
    tree = checkout()
    update = tree.by_id["update"]
    attempt, fault = tree.nearest(update, "celery.attempt"), tree.nearest(update, "fault.name")
    assert attempt is not None and attempt.span_id == "run"
    assert tree.nearest(update, "db.statement") is update
    assert fault is not None and fault.span_id == "request"
    assert tree.nearest(tree.by_id["insert"], "celery.attempt") is None


def test_missing_and_self_parents_make_roots_and_loops_are_left_out():
    """A partial trace has several roots; a span naming itself as parent is one; spans in a
    parent loop (an uploaded file) are reached by no walk, and their lineage ends."""
    tree = SpanTree([S("a", "b", 0), S("b", "a", 1), S("orphan", "missing", 2), S("self", "self", 3)])
    assert ids(tree.roots) == ["orphan", "self"]
    assert [span.span_id for _, span in tree.walk()] == ["orphan", "self"]
    assert ids(tree.lineage(tree.by_id["a"])) == ["a", "b"]
    assert ids(tree.descendants(tree.by_id["a"])) == ["b"]


def test_a_very_deep_trace_is_walked_without_recursion():
    """An uploaded trace may nest thousands of spans deep."""
    tree = SpanTree([S("0", "", 0)] + [S(str(i), str(i - 1), i) for i in range(1, 5000)])
    *_, (depth, last) = tree.walk()
    assert (depth, last.span_id) == (4999, "4999") and len(list(tree.descendants(tree.roots[0]))) == 4999
