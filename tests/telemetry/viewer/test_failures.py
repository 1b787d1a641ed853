"""The failures page (/traces/failures/) as staff and as strangers: the empty state, groups
with counts, orders, outcomes, sparkline and example link, the window filter and the JSON;
a view files the traces not grouped yet, once."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from synthetic import builders
from synthetic.builders import BASE_NS, S
from telemetry import failures
from telemetry.models import FailureGroup, TraceFailure
from tests.telemetry.test_failures import stored

pytestmark = pytest.mark.django_db(databases="__all__")
URL = reverse("telemetry:failures")


def ago(seconds: float) -> float:
    """The shift that puts a built trace's start ``seconds`` before now."""
    return (time.time_ns() - BASE_NS) / S - seconds


@pytest.fixture
def incident() -> dict[str, str]:
    """Two orders failed by database timeouts (5 and 3 minutes ago), one slow capture (2
    minutes ago), one timeout two hours ago; all stored a minute ago, so settled."""
    settled = time.time_ns() - 60 * S
    traces = {
        "old": stored(builders.retried_db_timeouts(), "old", shift_s=ago(7200), now_ns=settled),
        "first": stored(builders.retried_db_timeouts(), "first", shift_s=ago(300), now_ns=settled),
        "newest": stored(builders.retried_db_timeouts(), "newest", shift_s=ago(180), now_ns=settled),
        "slow": stored(builders.slow_gateway(), "slow", shift_s=ago(120), now_ns=settled),
    }
    return {name: trace_id for name, (trace_id, _order) in traces.items()}


def test_strangers_are_sent_to_the_login_and_staff_without_the_permission_get_403(client, django_user_model):
    assert client.get(URL).status_code == 302
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_span"))
    client.force_login(staff)
    assert client.get(URL).status_code == 200


def test_no_failures_says_so(admin_client):
    page = admin_client.get(URL).content.decode()
    assert "No failures in this window (1 h)" in page
    assert 'class="group' not in page


def test_an_incident_at_a_glance(admin_client, incident):
    """Over the last hour: 3 orders in 2 groups; the timeout group first (2 traces), with
    its diagnosis, its orders' outcomes, a sparkline and a link to the newest trace; the page
    filed the traces itself, and a second view analyses none again."""
    response = admin_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        "<strong>3</strong> orders affected, <strong>3</strong> traces, in <strong>2</strong> groups" in page
    )
    timeout = FailureGroup.objects.get(operation="UPDATE orders_order")
    row = page[page.index(f'id="group-{timeout.pk}"') :]
    row = row[: row.index("</tr>")]
    assert '<td class="num">2</td>' in row
    signature = "orders-worker · UPDATE orders_order · database timeout · sqlite3.OperationalError"
    assert f"{signature} · fault order_db_timeout" in row
    assert "2 voided" in row and "2 released" in row
    assert f'class="example" href="/traces/{incident["newest"]}/"' in row
    assert "<polyline points=" in row
    assert "badge new" not in row  # first seen two hours ago: not new in this hour
    assert page.index(f'id="group-{timeout.pk}"') < page.index('class="group slow"')
    assert TraceFailure.objects.count() == 4
    assert failures.group_failures()["grouped"] == 0  # nothing left to analyse

    wide = admin_client.get(URL, {"window": "24h"}).content.decode()
    assert "<strong>4</strong> traces" in wide
    slow_only = admin_client.get(URL, {"kind": "slow"}).content.decode()
    assert "<strong>1</strong> order affected" in slow_only and 'class="group error"' not in slow_only


def test_the_json_carries_the_same_figures(admin_client, incident):
    body = admin_client.get(URL, {"format": "json"}).json()
    assert (body["traces"], body["orders"]) == (3, 3)
    timeout, slow = body["groups"]
    assert (timeout["count"], timeout["example_trace_id"], timeout["money"]) == (
        2,
        incident["newest"],
        {"voided": 2},
    )
    assert sum(timeout["buckets"]) == 2
    assert (slow["kind"], slow["service"], slow["stock"]) == ("slow", "payments", {"committed": 1})
