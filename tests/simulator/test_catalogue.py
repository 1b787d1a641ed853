"""The failure catalogue's page (docs/failures.md) says truly which trace each kind's
diagnosis was read from: the order's, or, for a kind whose provocation named a trace
(lock_contention, n_plus_one), the request's."""

from __future__ import annotations

from simulator import catalogue
from simulator.catalogue import TRACE_PREFIX, Expected, Kind, Result
from telemetry.diagnosis import verdict as v


def result(name: str, target: str) -> Result:
    kind = Kind(name, f"{name} happens", lambda shop: target, Expected(("shop",), "GET", v.NOTHING))
    produced = {"service": "shop", "operation": "GET", "cause": v.NOTHING}
    return Result(kind, target, produced, "diagnosis\n  …")


def header(results: list[Result]) -> str:
    page = catalogue.page(results, engine="sqlite", skipped=[], when="2026-12-03 17:00 UTC")
    return " ".join(page.split("**", 1)[0].split())


def test_a_page_of_order_traces_says_the_orders_trace():
    text = header([result("payment_decline", "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01")])
    assert "`manage.py trace --order <id> --analyze` printed for the order's stored trace." in text


def test_kinds_read_from_a_requests_trace_are_named_in_the_header():
    results = [
        result("payment_decline", "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01"),
        result("lock_contention", TRACE_PREFIX + "4c12b2a6d138e675b96b9719a3bc782b"),
        result("n_plus_one", TRACE_PREFIX + "5d23c3b7e249f786c07a0820b4cd893c"),
    ]
    text = header(results)
    assert "the order's (`--order <id>`)" in text
    assert "for lock_contention and n_plus_one the trace of the request that met the failure" in text
    assert "for the order's stored trace" not in text
