"""``manage.py simulate_orders`` against the real stack (server, worker, Redis as
processes): every order it creates finishes and the books balance, calm or under the
incident scenario, and the command's exit code says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.flow

ROOT = Path(__file__).resolve().parents[2]


def simulate(stack, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    report_path = tmp_path / "report.json"
    command = [sys.executable, "manage.py", "simulate_orders", "--url", stack.url, "--json", str(report_path)]
    result = subprocess.run(
        [*command, *args], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300
    )
    return result, json.loads(report_path.read_text())


def test_twenty_orders_all_finish_and_every_invariant_passes(calm, tmp_path):
    """20 checkouts, 4 at a time: exit code 0, every order confirmed or failed (none stuck),
    each one's trace id reported, and every invariant PASS in the text and the JSON."""
    result, report = simulate(calm, tmp_path, "--orders", "20", "--concurrency", "4", "--seed", "11")

    assert result.returncode == 0, result.stdout + result.stderr
    assert report["passed"] is True
    assert report["stuck"] == [] and report["errors"] == []
    assert report["confirmed"] + sum(report["failed_by_reason"].values()) == 20
    assert all(check["passed"] for check in report["checks"]), report["checks"]
    assert {check["name"] for check in report["checks"]} == {
        "every order terminal",
        "no order lost",
        "stock conserved",
        "nothing left reserved",
        "sold = units of confirmed orders",
        "authorisations = captures + voids + refunds",
        "captures = confirmed orders",
    }
    assert all(row["trace_id"] for row in report["slowest"])
    assert result.stdout.count("PASS ") == 7 and "FAIL" not in result.stdout


def test_under_the_incident_scenario_orders_fail_but_the_books_still_balance(calm, tmp_path):
    """With declines, shortages and database timeouts injected, some orders fail, yet none
    is lost or stuck, money and stock balance, and the faults are calm again afterwards."""
    result, report = simulate(
        calm, tmp_path, "--orders", "20", "--concurrency", "4", "--seed", "12", "--scenario", "incident"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert report["scenario"] == "incident" and report["passed"] is True
    assert report["stuck"] == [] and report["errors"] == []
    assert "applied scenario 'incident'" in result.stdout and "reset to calm" in result.stdout
    assert "*" not in calm.manage("faults", "show")  # a starred flag differs from its default
