"""The dashboard's number and name formatting: rates in a readable unit, route names that
wrap only between their parts."""

from __future__ import annotations

import pytest

from telemetry.templatetags.dashboard_tags import breakable, rate


@pytest.mark.parametrize(
    ("per_second", "shown"),
    [
        (0, "0"),
        (None, "–"),
        (25.0, "25/s"),
        (2.5, "2.5/s"),
        (1.0, "1.0/s"),
        (0.5, "30/min"),
        (0.05, "3.0/min"),
        (1 / 60, "1.0/min"),
        (0.001, "3.6/h"),
        (0.5 / 3600, "0.5/h"),
        (1 / 86400, "< 0.1/h"),
    ],
)  # fmt: skip
def test_a_rate_is_shown_per_second_minute_or_hour(per_second, shown):
    assert rate(per_second) == shown


def test_a_route_may_wrap_only_after_its_separators_and_is_escaped():
    assert breakable("GET api/orders/<uuid:order_id>/") == (
        "GET api/<wbr>orders/<wbr>&lt;uuid:order_<wbr>id&gt;/<wbr>"
    )
    assert breakable("run/orders.finalize_order") == "run/<wbr>orders.<wbr>finalize_<wbr>order"
