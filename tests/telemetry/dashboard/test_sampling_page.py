"""The sampling page (/traces/sampling/): per window, the traces seen, kept and dropped by
reason, pending, and the settings in force; as HTML in the dashboard, and as JSON."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import resolve, reverse

from instrumentation.attributes import CUSTOMER_TIER
from synthetic.builders import S, TraceBuilder
from telemetry.models import Trace
from telemetry.store import tail
from telemetry.store.index import save_spans

pytestmark = pytest.mark.django_db(databases="__all__")


def stored(trace_id: str, *, ago_s: float, ms: float = 20, error: bool = False, tier: str = "") -> str:
    trace = TraceBuilder(trace_id=trace_id, base_ns=time.time_ns() - int(ago_s * S))
    attributes = {CUSTOMER_TIER: tier} if tier else {}
    root = trace.span(
        "POST api/shop/checkout/", service="shop", start=0, ms=ms, kind="SERVER", attributes=attributes
    )
    trace.span(
        "POST api/orders/", service="orders", start=1, ms=1, parent=root, status="ERROR" if error else ""
    )
    save_spans(trace.spans)
    return trace_id


def drawn(keep: bool) -> str:
    """A trace id the base share (10%) keeps, or drops."""
    return next(
        trace_id
        for trace_id in (format(n, "032x") for n in range(1, 10_000))
        if (tail.draw(trace_id) < 0.1) == keep
    )


@pytest.fixture
def decided(settings) -> None:
    """In the last 15 min: a failure (kept), an ordinary kept and one dropped (free tier),
    one slow dropped, and one still pending; two hours ago, a failure."""
    settings.TELEMETRY_TAIL_SAMPLING = True
    settings.TELEMETRY_TAIL_SLOW_SHARE = 0.0
    stored("a" * 32, ago_s=120, error=True)
    stored(drawn(keep=True), ago_s=120)
    stored(drawn(keep=False), ago_s=120, tier="free")
    stored("b" * 32, ago_s=120, ms=3000)
    stored("c" * 32, ago_s=7200, error=True)
    tail.decide(tail.Policy.from_settings(), now_ns=time.time_ns() + 3600 * S)
    stored("d" * 32, ago_s=60)  # after the run: pending


def test_the_page_is_not_taken_for_a_trace_id():
    """/traces/sampling/ is the sampling page, named telemetry:sampling."""
    assert resolve("/traces/sampling/").view_name == "telemetry:sampling"


def test_the_page_is_for_staff(client):
    """An anonymous visitor is sent to the admin login."""
    assert client.get(reverse("telemetry:sampling")).status_code == 302


def test_the_json_counts_the_window_by_outcome_and_reason(admin_client, decided):
    """15 min: 5 seen, 2 kept (error, base), 2 dropped (base, slow), 1 pending; the old
    failure is only in the 24 h window."""
    body = admin_client.get(reverse("telemetry:sampling"), {"window": "15m", "format": "json"}).json()

    assert (body["window"], body["seen"], body["kept"], body["dropped"], body["pending"]) == (
        "15m",
        5,
        2,
        2,
        1,
    )
    assert body["kept_by_reason"] == {"error": 1, "slow": 0, "base": 1, "late_error": 0}
    assert body["dropped_by_reason"] == {"error": 0, "slow": 1, "base": 1}
    assert {row["tier"]: row["dropped"] for row in body["tiers"]}["free"] == 1
    day = admin_client.get(reverse("telemetry:sampling"), {"window": "24h", "format": "json"}).json()
    assert (day["seen"], day["kept_by_reason"]["error"]) == (6, 2)


def test_the_json_gives_the_settings_in_force_and_the_effective_shares(admin_client, settings):
    """The tail settings, and each tier's slow and base shares after its multiplier, capped at 1."""
    settings.TELEMETRY_TAIL_SLOW_SHARE = 0.8
    settings.TELEMETRY_TIER_MULTIPLIERS = "premium=1.5,standard=1.0,free=0.5"
    tail_settings = admin_client.get(reverse("telemetry:sampling"), {"format": "json"}).json()["settings"][
        "tail"
    ]

    assert tail_settings["enabled"] is False and tail_settings["base_share"] == 0.1
    shares = {row["tier"]: (row["slow"], row["base"]) for row in tail_settings["shares"]}
    assert shares["premium"] == (1.0, pytest.approx(0.15))
    assert shares["free"] == (0.4, 0.05)
    assert shares["standard"] == (0.8, 0.1)


def test_the_html_shows_the_same_figures_with_the_dashboard_navigation(admin_client, decided):
    """The figures, a row per reason, the settings; Services, Metrics and Sampling in the
    navigation, the windows as links."""
    html = admin_client.get(reverse("telemetry:sampling"), {"window": "15m"}).content.decode()

    figure = {name: int(n) for name, n in re.findall(r'id="(seen|kept|dropped|pending)"><strong>(\d+)', html)}
    assert figure == {"seen": 5, "kept": 2, "dropped": 2, "pending": 1}
    assert re.search(r'data-reason="slow">.*?<td class="num">0</td><td class="num">1</td>', html)
    assert "TELEMETRY_TAIL_DECISION_WAIT" in html and "tail-off" not in html
    assert reverse("telemetry:services") in html and reverse("telemetry:metrics") in html
    assert 'aria-current="page">Sampling<' in html and "?window=24h" in html


def test_the_html_says_when_tail_retention_is_off(admin_client):
    """Off (the default): every trace is kept, and the page says so."""
    assert 'id="tail-off"' in admin_client.get(reverse("telemetry:sampling")).content.decode()


def test_the_other_dashboard_pages_link_to_it(admin_client):
    """Services and metrics pages carry the Sampling link in their navigation."""
    for page in ("telemetry:services", "telemetry:metrics"):
        assert reverse("telemetry:sampling") in admin_client.get(reverse(page)).content.decode()
    assert Trace.objects.count() == 0
