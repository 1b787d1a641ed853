"""The driver: seeded baskets, status polls that record no trace, and one real run
against a live server whose orders never finish, which must be flagged stuck."""

from __future__ import annotations

import pytest
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shop.demo import CATALOGUE
from simulator.driver import RunConfig, make_baskets, run, untraced_headers
from simulator.report import build_report, render


def test_baskets_hold_one_to_three_different_skus_of_one_or_two_units():
    """Every basket has 1-3 lines, no SKU twice, 1-2 units a line, SKUs from the catalogue."""
    skus = [sku for sku, *_ in CATALOGUE]
    for basket in make_baskets(skus, 500, seed=3):
        assert 1 <= len(basket) <= 3
        assert len({line.sku for line in basket}) == len(basket)
        assert all(line.sku in skus and line.quantity in (1, 2) for line in basket)


def test_the_same_seed_gives_the_same_baskets_whatever_the_catalogue_order():
    """A seed reproduces the baskets (the catalogue is sorted first); another seed gives others."""
    skus = [sku for sku, *_ in CATALOGUE]
    first = make_baskets(skus, 50, seed=7)
    assert make_baskets(list(reversed(skus)), 50, seed=7) == first
    assert make_baskets(skus, 50, seed=8) != first


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_run_whose_orders_never_finish_reports_them_stuck(services_url, catalogue):
    """Against a live server with no worker (tasks go to an in-memory broker) the orders stay
    placed: the run must say so, FAIL the terminal and money checks, and lose nothing."""
    config = RunConfig(url=services_url, orders=4, concurrency=2, timeout=0.5, seed=5, progress=False)
    report = build_report(config, run(config))
    checks = {check.name: check for check in report.checks}
    assert report.answers == {"202": 4}
    assert len(report.stuck) == 4 and {row.status for row in report.stuck} == {"placed"}
    assert all(row.trace_id for row in report.stuck)
    assert not checks["every order terminal"].passed
    assert not checks["nothing left reserved"].passed
    assert not checks["authorisations = captures + voids + refunds"].passed  # 4 still authorised
    assert checks["no order lost"].passed and checks["stock conserved"].passed
    assert not report.passed
    assert "FAIL every order terminal: 0 of 4 orders" in render(report)


def test_status_polls_carry_an_unsampled_trace_context():
    """The shop's parent-based sampler honours the flag: a poll records no spans."""
    first, second = untraced_headers(), untraced_headers()
    context = get_current_span(TraceContextTextMapPropagator().extract(first)).get_span_context()
    assert context.is_valid and context.is_remote
    assert not context.trace_flags.sampled
    assert first != second  # a trace id of its own per poll
