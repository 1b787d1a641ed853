"""The report of a run (its percentiles are core.stats', tested there): failures counted by reason, answers by
HTTP status, the slowest checkouts first, and a JSON form."""

from __future__ import annotations

import json
from datetime import timedelta

from simulator.driver import Line, RunConfig, RunResult
from simulator.report import build_report, render
from tests.simulator.runs import BEFORE, MOUSE, T0, after, attempt, summary, total


def test_report_groups_failures_by_reason_and_is_json():
    """Failed orders are counted by the reason's code; refusals by HTTP status; the report is JSON."""
    mouse = (Line(MOUSE, 1),)
    attempts = [
        attempt(
            1,
            "confirmed",
            basket=mouse,
            total_cents=2999,
            created_at=T0,
            confirmed_at=T0 + timedelta(seconds=1),
            checkout_ms=80.0,
        ),
        attempt(
            2,
            "failed",
            http_status=409,
            reason="insufficient_stock: Not enough stock for X.",
            checkout_ms=40.0,
        ),
        attempt(
            3,
            "failed",
            http_status=409,
            reason="insufficient_stock: Not enough stock for Y.",
            checkout_ms=30.0,
        ),
        attempt(
            4,
            "failed",
            basket=mouse,
            total_cents=2999,
            reason="finalize gave up after 4 attempts: OperationalError: interrupted",
            checkout_ms=90.0,
        ),
    ]
    config = RunConfig(url="http://shop", orders=4, concurrency=2, timeout=10, seed=1)
    money = summary(captured=total(1, 2999), voided=total(1, 2999))
    result = RunResult(attempts, BEFORE, after({MOUSE: (0, 1)}), money, 1.0, 2.0)
    report = build_report(config, result)
    assert report.answers == {"202": 2, "409": 2}
    assert report.failed_by_reason == {"insufficient_stock": 2, "finalize gave up after 4 attempts": 1}
    assert report.confirmation_ms == {"p50": 1000.0, "p95": 1000.0}
    assert [row.checkout_ms for row in report.slowest[:2]] == [90.0, 80.0]
    assert report.passed, render(report)
    assert json.loads(json.dumps(report.as_dict(), default=str))["passed"] is True
