"""The critical path: the spans that decided when a trace ended (telemetry/critical_path.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.builders import Recorder, confirmed_order, failed_order
from telemetry.diagnosis.critical_path import critical_path
from telemetry.tree import SpanTree


@dataclass
class S:
    span_id: str
    parent_span_id: str
    start_time_ns: int
    end_time_ns: int


def test_sequential_children_are_all_on_the_path():
    """A request that calls three services one after another waited for each of them."""
    spans = [S("root", "", 0, 100), S("a", "root", 10, 30), S("b", "root", 30, 60), S("c", "root", 60, 90)]
    assert critical_path(spans) == {"root", "a", "b", "c"}


def test_of_parallel_children_only_the_last_to_finish_is_on_the_path():
    """Two calls at once: the trace waited for the slower one, not the faster."""
    spans = [S("root", "", 0, 100), S("fast", "root", 10, 40), S("slow", "root", 10, 90)]
    assert critical_path(spans) == {"root", "slow"}


def test_a_child_that_ended_before_the_next_started_is_on_the_path_too():
    """Walking back from the end: the last to finish, then the sibling still running when
    it started (up to that start), then the one that had finished before that."""
    spans = [
        S("root", "", 0, 100),
        S("early", "root", 5, 20),
        S("overlapping", "root", 22, 55),
        S("late", "root", 50, 95),
    ]
    assert critical_path(spans) == {"root", "late", "overlapping", "early"}


def test_the_path_goes_down_into_the_children_of_a_span_on_it():
    """A span on the path waited for its own children, as its parent waited for it."""
    spans = [
        S("root", "", 0, 100),
        S("call", "root", 10, 90),
        S("query", "call", 20, 80),
        S("idle", "root", 5, 8),
    ]
    assert critical_path(spans) == {"root", "call", "query", "idle"}


def test_a_task_that_outlives_the_request_that_published_it_stays_on_the_path():
    """A Celery run ends long after the request answered: the trace ended with the run,
    so the publish and the run are on the path, reached through the request."""
    spans = [
        S("request", "", 0, 100),
        S("reserve", "request", 10, 40),
        S("publish", "request", 50, 52),
        S("run", "publish", 200, 500),
        S("update", "run", 210, 480),
    ]
    assert critical_path(spans) == {"request", "reserve", "publish", "run", "update"}


def test_several_roots_share_one_path():
    """A partial trace (a missing parent) still gets one path, from the root that ended last."""
    spans = [S("first", "", 0, 50), S("second", "missing", 60, 100), S("child", "second", 70, 90)]
    assert critical_path(spans) == {"second", "child", "first"}


def test_an_empty_trace_has_no_path_and_cycles_do_not_hang():
    """No spans, no path. Parent loops (possible in an uploaded file) are left out; a span
    that names itself as parent is a root."""
    assert critical_path([]) == set()
    looped = [S("a", "b", 0, 10), S("b", "a", 0, 10), S("root", "", 0, 20), S("self", "self", 25, 30)]
    assert critical_path(looped) == {"root", "self"}


def test_a_very_deep_trace_is_walked_without_recursion():
    """An uploaded trace may nest thousands of spans deep."""
    spans = [S("0", "", 0, 10_000)] + [S(str(i), str(i - 1), i, 10_000 - i) for i in range(1, 5000)]
    assert len(critical_path(spans)) == 5000


def test_on_a_failed_order_the_path_runs_through_every_attempt_to_the_compensation():
    """On a recorded trace of a failed order: the last attempt, the compensation and what
    it undid decided the end; the early checkout hops ran before the publish."""
    rec = Recorder()
    found = failed_order(rec, attempts=3)
    rows = rec.rows()
    path = critical_path(rows)
    names = {row.span_id: row.name for row in rows}
    on_path = [names[span_id] for span_id in path]
    ids = {format(span.context.span_id, "016x") for span in [*found["attempts"], found["compensation"]]}
    assert ids <= path
    assert "POST api/shop/checkout/" in on_path
    assert "POST api/inventory/reservations/<uuid:order_id>/release/" in on_path


def test_on_a_confirmed_order_the_capture_is_on_the_path():
    """The confirmed order's trace ended with the worker's capture call."""
    rec = Recorder()
    confirmed_order(rec)
    rows = rec.rows()
    on_path = {row.name for row in rows if row.span_id in critical_path(rows)}
    assert "POST api/payments/payments/<uuid:order_id>/capture/" in on_path
    assert "run/orders.finalize_order" in on_path


def _quadratic_critical_path(spans: list[S]) -> set[str]:
    """The walk as it was before it was made O(n log n): each step rescans every sibling.
    Kept as the reference the fast walk must agree with, tie-breaks included."""
    tree = SpanTree(spans)
    reach: dict[str, int] = {}
    for _, span in reversed(list(tree.walk())):
        reach[span.span_id] = max([span.end_time_ns, *(reach[kid.span_id] for kid in tree.children(span))])
    path: set[str] = set()
    frames: list[tuple[list[S], int]] = [(tree.roots, max(reach.values(), default=0) + 1)]
    while frames:
        kids, barrier = frames.pop()
        started = [kid for kid in kids if kid.start_time_ns < barrier]
        if not started:
            continue
        last = max(started, key=lambda kid: (min(reach[kid.span_id], barrier), kid.start_time_ns))
        path.add(last.span_id)
        frames.append((tree.children(last), min(reach[last.span_id], barrier) + 1))
        frames.append((kids, last.start_time_ns))
    return path


@st.composite
def _random_traces(draw) -> list[S]:
    """Random trees on a small time grid, so starts, ends and reaches often tie; ends may
    fall before starts and children may outlive parents, as in uploaded files."""
    count = draw(st.integers(min_value=0, max_value=40))
    spans: list[S] = []
    for index in range(count):
        parent = draw(st.integers(min_value=-1, max_value=index - 1)) if index else -1
        start = draw(st.integers(min_value=0, max_value=12))
        end = start + draw(st.integers(min_value=-2, max_value=12))
        spans.append(S(f"s{index}", f"s{parent}" if parent >= 0 else "", start, end))
    return draw(st.permutations(spans))


@settings(max_examples=400, deadline=None)
@given(_random_traces())
def test_the_walk_agrees_with_the_quadratic_reference_on_random_trees(spans):
    """Same path as the rescanning walk, for any tree: siblings sharing starts and reaches,
    several roots, children that end after their parent."""
    assert critical_path(spans) == _quadratic_critical_path(spans)


def test_a_span_with_many_children_keeps_the_reference_path():
    """Thousands of siblings (a span flooded with children): the same path as the reference."""
    rng = random.Random(10)
    spans = [S("root", "", 0, 10_000)]
    spans += [
        S(f"k{i}", "root", (start := rng.randrange(10_000)), start + rng.randrange(50)) for i in range(3000)
    ]
    assert critical_path(spans) == _quadratic_critical_path(spans)
