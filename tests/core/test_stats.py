"""The one nearest-rank percentile (core/stats.py), used by the dashboard and the simulator."""

from __future__ import annotations

from core.stats import nearest_rank, percentile


def test_a_percentile_is_the_smallest_value_with_that_share_at_or_below_it():
    """1..20: p50 is the 10th value, p95 the 19th, p99 and p100 the 20th; order does not matter."""
    values = list(range(20, 0, -1))
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [10, 19, 20, 20]


def test_whole_percents_are_exact_where_floating_point_would_round_up():
    """7 % of 100 values is the 7th (7 / 100 * 100 is 7.000000000000001 in floating point)."""
    assert percentile(range(1, 101), 7) == 7


def test_few_values_none_and_presorted():
    """One value is every percentile; no values, no percentile; sorted input skips the sort."""
    assert percentile([12.5], 99) == 12.5 and percentile([], 50) is None
    assert nearest_rank([10.0, 20.0, 30.0], 50) == 20.0
