"""The viewer's template helpers: durations in the unit a person reads them in."""

from __future__ import annotations

import pytest

from telemetry.templatetags.telemetry_tags import human_ms


@pytest.mark.parametrize(
    ("milliseconds", "shown"),
    [
        (0.42, "0.42 ms"),
        (12.34, "12.3 ms"),
        (245.4, "245 ms"),
        (1250, "1.2 s"),  # round half to even: 1.25 → 1.2
        (30080.0, "30.1 s"),
        (30000, "30 s"),
        (59_960, "1 min"),
        (125_000, "2 min 5 s"),
        (None, "–"),
    ],
)
def test_a_duration_reads_in_ms_seconds_or_minutes(milliseconds, shown):
    assert human_ms(milliseconds) == shown
