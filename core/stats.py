"""Nearest-rank percentiles, shared by the dashboard's latency stats and the simulator's
report: one definition, so the two never disagree on what "p95" means."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], percent: float) -> float | None:
    """The smallest value with at least ``percent`` % of the values at or below it (never
    a value that was not measured); None for no values."""
    return nearest_rank(sorted(values), percent)


def nearest_rank(ordered: Sequence[float], percent: float) -> float | None:
    """``percentile`` of values already sorted, so several percentiles share one sort."""
    if not ordered:
        return None
    # Multiplied before dividing (a ceiling in integers for whole percents): p / 100 * n can
    # land just above a whole rank, 7 / 100 * 100 being 7.000000000000001.
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[int(rank) - 1]
