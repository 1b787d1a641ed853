"""Who may call what (README "Who may call what"), per URL area of config/urls.py: each
endpoint asked by an anonymous visitor, a support user (staff in the read-only ``support``
group), a staff user without permissions, and a superuser (full staff)."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from core.api import IsInternalService
from faults.models import FaultFlag
from orders.models import Order
from synthetic.builders import Recorder, failed_order
from telemetry.access import SUPPORT_GROUP, SUPPORT_VIEWS, ensure_support_group
from telemetry.models import AlertRule, Span

pytestmark = pytest.mark.django_db(databases="__all__")

ORDER_ID = "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01"
OK, LOGIN, FORBIDDEN = "ok", "login", "forbidden"
WHO = ("anonymous", "support", "staff", "superuser")


@pytest.fixture
def trace_id() -> str:
    rec = Recorder()
    failed_order(rec, ORDER_ID, attempts=1)
    rec.store()
    return rec.trace_id


@pytest.fixture
def order(trace_id) -> Order:
    return Order.objects.create(
        id=uuid.UUID(ORDER_ID), email="a@example.com", total_cents=100, trace_id=trace_id
    )


@pytest.fixture
def clients(django_user_model) -> dict[str, Client]:
    support = django_user_model.objects.create_user("support", password="x" * 20, is_staff=True)
    support.groups.add(Group.objects.get(name=SUPPORT_GROUP))  # made by the post_migrate hook
    staff = django_user_model.objects.create_user("staff", password="x" * 20, is_staff=True)
    superuser = django_user_model.objects.create_superuser("boss", "boss@example.com", "x" * 20)
    made = {"anonymous": Client()}
    for name, user in (("support", support), ("staff", staff), ("superuser", superuser)):
        made[name] = Client()
        made[name].force_login(user)
    return made


def outcome(response) -> str:
    if response.status_code in (401, 403):
        return FORBIDDEN
    if response.status_code == 302 and "/admin/login/" in response["Location"]:
        return LOGIN
    return OK


# (method, path, expected for anonymous, support, staff without permissions, superuser).
PAGES = [
    # Internal APIs: the service token only; a staff session is no token.
    ("get", f"/api/orders/{ORDER_ID}/", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("get", "/api/inventory/stock/", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("post", f"/api/payments/payments/{ORDER_ID}/cancel/", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("get", "/api/payments/summary/", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    # The admin: orders are read-only for everyone, superusers included.
    ("get", "/admin/", LOGIN, OK, OK, OK),
    ("get", "/admin/orders/order/", LOGIN, OK, FORBIDDEN, OK),
    ("get", f"/admin/orders/order/{ORDER_ID}/change/", LOGIN, OK, FORBIDDEN, OK),
    ("post", f"/admin/orders/order/{ORDER_ID}/change/", LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("get", f"/admin/orders/order/{ORDER_ID}/delete/", LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("get", "/admin/orders/order/add/", LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("get", "/admin/payments/payment/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/admin/payments/payment/add/", LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("get", "/admin/inventory/reservation/add/", LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("get", "/admin/shop/product/add/", LOGIN, FORBIDDEN, FORBIDDEN, OK),  # configuration
    # Fault flags and alert rules: support sees them, changes nothing.
    ("get", "/admin/faults/faultflag/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/admin/faults/faultflag/add/", LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ("post", "/admin/faults/faultflag/{flag}/change/", LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ("get", "/admin/telemetry/alertrule/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/admin/telemetry/alertrule/add/", LOGIN, FORBIDDEN, FORBIDDEN, OK),
    ("post", "/admin/telemetry/alertrule/{rule}/change/", LOGIN, FORBIDDEN, FORBIDDEN, OK),
    # The trace viewer and the dashboard, pages and JSON.
    ("get", "/traces/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/?format=json", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/{trace}/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/{trace}/otlp.json", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/{trace}/spans/{span}/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/{trace}/find/?q=update", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/{trace}/rows/?under={span}", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/failures/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/failures/?format=json", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/compare/?a={trace}&b={trace}", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/services/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/services/?format=json", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/metrics/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/metrics/?format=json", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/sampling/", LOGIN, OK, FORBIDDEN, OK),
    ("get", "/traces/sampling/?format=json", LOGIN, OK, FORBIDDEN, OK),
    ("post", "/traces/load/", LOGIN, FORBIDDEN, FORBIDDEN, OK),  # it writes spans
]


@pytest.mark.parametrize(("method", "path", *WHO), PAGES, ids=[f"{row[0]} {row[1]}" for row in PAGES])
def test_who_may_call_what(clients, order, trace_id, method, path, anonymous, support, staff, superuser):
    """Each caller gets the answer the README's table gives it."""
    flag = FaultFlag.objects.create(name="payment_decline", value=0.0)
    rule = AlertRule.objects.create(name="errors", service="shop", kind="error_rate", threshold=0.5)
    span = Span.objects.filter(trace_id=trace_id).values_list("span_id", flat=True).first()
    url = path.format(trace=trace_id, span=span, flag=flag.pk, rule=rule.pk)
    expected = dict(zip(WHO, (anonymous, support, staff, superuser), strict=True))
    for who, client in clients.items():
        if method == "get":
            response = client.get(url)
        elif url == "/traces/load/":
            response = client.post(url, {"file": SimpleUploadedFile("t.json", b"{}")})
        elif url.startswith("/api/"):
            response = client.post(url, b"{}", content_type="application/json")
        else:
            response = client.post(url, {})
        assert outcome(response) == expected[who], (who, response.status_code)


# The storefront and the public API, against the real internal APIs on a live server.
PUBLIC = [
    ("get", "/", 200),
    ("get", "/cart/", 200),
    ("get", f"/orders/{ORDER_ID}/", 200),
    ("get", "/api/shop/products/", 200),
    ("post", "/api/shop/checkout/", 400),  # open, and told what is missing
    ("get", f"/api/shop/orders/{ORDER_ID}/", 200),
]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_storefront_and_the_public_api_are_open_to_everyone(clients, order, services_url):
    """Anyone, signed in or not, gets the page or the API's own answer."""
    for method, url, status in PUBLIC:
        for who, client in clients.items():
            if method == "get":
                response = client.get(url)
            else:
                response = client.post(url, b"{}", content_type="application/json")
            assert response.status_code == status, (who, url, response.status_code)


INTERNAL_PREFIXES = {"api/orders/", "api/inventory/", "api/payments/"}


def test_every_internal_api_view_asks_for_the_service_token():
    """No view under /api/orders/, /api/inventory/ or /api/payments/ is left open: a new
    endpoint without the permission fails here, whatever the table above lists."""
    internal = [
        pattern
        for resolver in get_resolver().url_patterns
        if isinstance(resolver, URLResolver) and str(resolver.pattern) in INTERNAL_PREFIXES
        for pattern in resolver.url_patterns
        if isinstance(pattern, URLPattern)
    ]
    assert len(internal) >= 13
    for pattern in internal:
        view = cast(Any, pattern.callback).view_class  # as_view() sets it; the stubs do not say
        assert IsInternalService in view.permission_classes, pattern.name


def telemetry_patterns() -> list[URLPattern]:
    """Every URL of the ``telemetry`` namespace (the viewer's and the dashboard's pages),
    found by walking the resolver rather than listed."""
    found = []
    pending = [(resolver, "") for resolver in get_resolver().url_patterns]
    while pending:
        entry, namespace = pending.pop()
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            pending.extend((child, inner) for child in entry.url_patterns)
        elif namespace == "telemetry":
            found.append(entry)
    return found


def call_as(user, pattern: URLPattern, method: str):
    """The pattern's view called directly, as ``user``, with made-up URL arguments: the
    decorator must answer before the view looks at them."""
    request = getattr(RequestFactory(), method)("/traces/")
    request.user = user
    kwargs = dict.fromkeys(pattern.pattern.converters, "0" * 16)
    try:
        return cast(Any, pattern.callback)(request, **kwargs)
    except PermissionDenied:
        return FORBIDDEN


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_viewer_and_dashboard_page_asks_for_staff_and_the_permission(django_user_model, method):
    """No view under ``telemetry:`` is left open: each is wrapped by
    ``staff_with_permission``, so an anonymous visitor is sent to the admin login and a
    staff member without the permission is refused. A new page without it fails here,
    whatever the table above lists. (A view may refuse a method first: 405 before anything.)"""
    patterns = telemetry_patterns()
    assert len(patterns) >= 10  # the walk found them all (viewer, dashboard, failures)
    staff = django_user_model.objects.create_user("plain-staff", password="x" * 20, is_staff=True)
    for pattern in patterns:
        anonymous = call_as(AnonymousUser(), pattern, method)
        if anonymous != FORBIDDEN and anonymous.status_code == 405:
            continue
        assert anonymous != FORBIDDEN and anonymous.status_code == 302, pattern.name
        assert anonymous["Location"].startswith("/admin/login/"), pattern.name
        assert call_as(staff, pattern, method) == FORBIDDEN, pattern.name


def test_the_support_group_holds_view_permissions_only():
    """Made by migrate: view permissions on the models it lists, no add, change or delete."""
    group = Group.objects.get(name=SUPPORT_GROUP)
    permissions = group.permissions.select_related("content_type")
    held = {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
    assert held == {f"{label}.view_{model}" for label, models in SUPPORT_VIEWS.items() for model in models}


def test_the_hook_completes_the_group_and_keeps_what_an_administrator_added():
    """Run again (every migrate runs it), it restores a removed permission and keeps one
    an administrator granted."""
    from django.apps import apps

    group = Group.objects.get(name=SUPPORT_GROUP)
    group.permissions.remove(Permission.objects.get(codename="view_order"))
    group.permissions.add(Permission.objects.get(codename="view_group"))
    ensure_support_group(apps.get_app_config("telemetry"), verbosity=0)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"view_order", "view_group"} <= codenames
