"""The services page on traces the real processes stored: a checkout through the server,
the broker and the worker shows up as edges between the apps, Celery included."""

from __future__ import annotations

import re

import pytest
import requests

from tests.flows.conftest import confirmation_stored

pytestmark = pytest.mark.flow

CREATE_STAFF = (
    "from django.contrib.auth.models import User\n"
    "if not User.objects.filter(username='staff').exists():\n"
    "    User.objects.create_superuser('staff', 's@x.io', 'pw')"
)


def staff_session(stack) -> requests.Session:
    """Log in through the admin's login form, as a browser would."""
    stack.manage("shell", "-c", CREATE_STAFF)
    session = requests.Session()
    login_url = f"{stack.url}/admin/login/"
    form = session.get(login_url, timeout=30)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert found, "the login page carries a CSRF token"
    token = found.group(1)
    assert session.cookies.get("csrftoken")
    answer = session.post(
        login_url,
        data={"csrfmiddlewaretoken": token, "username": "staff", "password": "pw", "next": "/admin/"},
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return session


def test_a_checkout_shows_as_edges_between_the_apps_on_the_services_page(calm):
    """shop calls orders, inventory and payments over REST; orders hands the order to the
    worker through Celery (publish → run): all four edges are on the page."""
    response = calm.checkout([("MOUSE-WIRELESS", 1)])
    assert response.status_code == 202, response.text
    order_id = response.json()["order_id"]
    assert calm.wait_for_status(order_id, {"confirmed", "failed"}, timeout=60)["status"] == "confirmed"
    calm.trace(order_id, until=confirmation_stored)

    page = staff_session(calm).get(f"{calm.url}/traces/services/", params={"window": "all"}, timeout=30)
    assert page.status_code == 200
    assert "/admin/login/" not in page.url
    edges = set(re.findall(r'data-source="([^"]+)" data-target="([^"]+)"', page.text))
    assert {("shop", "orders"), ("shop", "inventory"), ("shop", "payments")} <= edges
    assert ("orders", "orders-worker") in edges  # apply_async → run/orders.finalize_order
