"""The search's noise filter (telemetry/viewer/noise.py): admin pages, status polls and beat
runs left out of the results by default, the choice a toggle kept in the user's session."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import resolve

from synthetic.builders import Recorder
from telemetry.viewer.noise import POLL_ROUTES, is_noise, noise

pytestmark = pytest.mark.django_db(databases="__all__")


def stored_root(name: str) -> str:
    rec = Recorder()
    rec.span(name, service="shop", start=0, ms=5, kind="SERVER")
    rec.store()
    return rec.trace_id


@pytest.fixture
def traces() -> dict[str, str]:
    """One trace per kind of root: a checkout, an admin page, a poll, a beat run."""
    return {
        "checkout": stored_root("POST cart/"),
        "admin": stored_root("GET admin/orders/order/"),
        "poll": stored_root("GET orders/<uuid:order_id>/"),
        "api-poll": stored_root("GET api/orders/<uuid:order_id>/"),
        "shop-api-poll": stored_root("GET api/shop/orders/<uuid:order_id>/"),
        "beat": stored_root("run/orders.reconcile"),
        "finalize": stored_root("run/orders.finalize_order"),
    }


def listed(html: str) -> set[str]:
    return set(re.findall(r'class="trace-row" data-trace-id="(\w+)"', html))


def test_noise_is_hidden_by_default_and_the_page_says_how_many(admin_client, traces):
    html = admin_client.get("/traces/").content.decode()
    assert listed(html) == {traces["checkout"], traces["finalize"]}
    assert "Noise hidden" in html and "5 traces left out" in html


def test_the_toggle_shows_everything_and_the_choice_is_remembered(admin_client, traces):
    html = admin_client.get("/traces/", {"noise": "show"}).content.decode()
    assert listed(html) == set(traces.values())
    # The next search, without the parameter, keeps the choice (the session's).
    assert listed(admin_client.get("/traces/", {"sort": "slowest"}).content.decode()) == set(traces.values())
    assert "Hide noise" in admin_client.get("/traces/").content.decode()
    admin_client.get("/traces/", {"noise": "hide"})
    assert listed(admin_client.get("/traces/").content.decode()) == {traces["checkout"], traces["finalize"]}


def test_the_choice_is_per_user(admin_client, client, django_user_model, traces):
    admin_client.get("/traces/", {"noise": "show"})
    other = django_user_model.objects.create_superuser("other", "other@example.com", "pw")
    client.force_login(other)
    assert listed(client.get("/traces/").content.decode()) == {traces["checkout"], traces["finalize"]}


def test_an_empty_result_offers_the_hidden_noise(admin_client, traces):
    html = admin_client.get("/traces/", {"operation": "admin/"}).content.decode()
    assert listed(html) == set()
    assert "No trace matches these filters" in html
    assert "1 matching trace is hidden as noise" in html and "noise=show" in html


def test_the_json_search_follows_the_same_choice(admin_client, traces):
    body = admin_client.get("/traces/", {"format": "json"}).json()
    assert {row["trace_id"] for row in body["traces"]} == {traces["checkout"], traces["finalize"]}
    body = admin_client.get("/traces/", {"format": "json", "noise": "show"}).json()
    assert {row["trace_id"] for row in body["traces"]} == set(traces.values())


def test_every_beat_task_and_no_domain_task_is_noise():
    rules = noise()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert is_noise(f"run/{entry['task']}", rules)
    assert not is_noise("run/orders.finalize_order", rules)
    assert not is_noise("POST api/orders/<uuid:order_id>/place/", rules)
    assert not is_noise("GET orders/<uuid:order_id>/extra/", rules)
    assert is_noise("POST admin/login/", rules)


@pytest.mark.parametrize("route", POLL_ROUTES)
def test_the_poll_routes_are_still_in_the_urlconf(route):
    """A renamed route would silently stop the filter: resolve a path of each."""
    path = "/" + route.replace("<uuid:order_id>", "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01")
    assert resolve(path).route == route  # Resolver404 when the route is gone
