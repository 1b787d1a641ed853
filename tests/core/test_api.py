"""What every app's API shares: the internal APIs answer only callers with the service
token, and every error leaves as {"code", "message", "extra"}."""

from __future__ import annotations

import uuid

import pytest
import requests
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, ProgrammingError
from django.test import Client

from core import api

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Fixed, not uuid4(): every xdist worker must collect the same test ids.
ORDER = uuid.UUID("00000000-0000-4000-8000-000000000001")
INTERNAL = [
    ("GET", "/api/inventory/stock/"),
    ("POST", "/api/inventory/reservations/"),
    ("POST", f"/api/inventory/reservations/{ORDER}/commit/"),
    ("POST", f"/api/inventory/reservations/{ORDER}/release/"),
    ("POST", "/api/payments/authorizations/"),
    ("POST", f"/api/payments/payments/{ORDER}/capture/"),
    ("POST", f"/api/payments/payments/{ORDER}/cancel/"),
    ("POST", "/api/orders/"),
    ("GET", f"/api/orders/{ORDER}/"),
    ("POST", f"/api/orders/{ORDER}/place/"),
    ("POST", f"/api/orders/{ORDER}/fail/"),
]


@pytest.mark.parametrize(("method", "path"), INTERNAL, ids=[f"{m} {p}" for m, p in INTERNAL])
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", settings.SERVICE_TOKEN],
    ids=["no-token", "wrong-token", "no-bearer-prefix"],
)
def test_internal_apis_refuse_callers_without_the_service_token(services_url, method, path, authorization):
    """Without 'Authorization: Bearer <token>' an internal API answers 403 permission_denied
    and says what to send."""
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.request(method, services_url + path, json={}, headers=headers, timeout=10)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "permission_denied"
    assert "Authorization: Bearer" in body["message"]


def test_with_the_service_token_the_internal_api_answers(services_url):
    """The right bearer token is let through."""
    response = requests.get(
        f"{services_url}/api/inventory/stock/",
        timeout=10,
        headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"},
    )
    assert response.status_code == 200
    assert response.json() == []


def test_validation_errors_have_the_one_error_shape(services_url):
    """Invalid input answers 400 invalid_request, the first problem in the message and every
    field's problems in extra."""
    response = requests.post(
        f"{services_url}/api/inventory/reservations/",
        json={"items": []},
        timeout=10,
        headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"},
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["message"]) == (
        "invalid_request",
        "Invalid request: order_id: This field is required.",
    )
    assert set(body["extra"]["fields"]) == {"order_id", "items"}


def test_a_problem_in_a_later_line_is_named_not_a_server_error(services_url):
    """DRF reports one entry per line, ``{}`` for a valid one: a problem only in the second
    line is a 400 that names that line (it used to raise StopIteration, a 500)."""
    lines = [{"sku": "TEE-BLK-M", "quantity": 1}, {"sku": "", "quantity": 1}]
    response = requests.post(
        f"{services_url}/api/inventory/reservations/",
        json={"order_id": str(uuid.uuid4()), "items": lines},
        timeout=10,
        headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid request: items: 1: sku: This field may not be blank."


TOO_BIG = 2**64  # past any column: SQLite raised OverflowError on it, a 500
LINE = {"sku": "TEE-BLK-M", "name": "Tee", "quantity": 1, "unit_price_cents": 100}
OVERSIZED = [
    ("/api/payments/authorizations/", {"order_id": str(ORDER), "amount_cents": TOO_BIG, "token": "tok_ok"}),
    (
        "/api/inventory/reservations/",
        {"order_id": str(ORDER), "items": [{"sku": "TEE-BLK-M", "quantity": TOO_BIG}]},
    ),
    ("/api/orders/", {"email": "a@example.com", "lines": [{**LINE, "quantity": TOO_BIG}]}),
    # Each line fits; their total (4 * 2^30 cents) does not.
    (
        "/api/orders/",
        {"email": "a@example.com", "lines": [{**LINE, "quantity": 4, "unit_price_cents": 2**30}]},
    ),
]


@pytest.mark.parametrize(("path", "body"), OVERSIZED, ids=["amount", "quantity", "line", "total"])
def test_a_number_past_what_is_stored_is_refused_not_a_server_error(services_url, path, body):
    """Found by Schemathesis (tests/core/test_schemathesis.py)."""
    response = requests.post(
        services_url + path,
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


BODY_READERS = ["/api/orders/", "/api/inventory/reservations/", "/api/payments/authorizations/"]


@pytest.mark.parametrize("path", BODY_READERS, ids=["orders", "inventory", "payments"])
@pytest.mark.parametrize("depth", [api.LimitedJSONParser.max_depth + 1, 30_000], ids=["just-over", "30000"])
def test_a_body_nested_too_deep_is_400_on_an_internal_api(path, depth):
    """Every API parses with the depth-limited parser (DEFAULT_PARSER_CLASSES): with the
    service token, a deeply nested body is a 400 invalid_request in the error shape, not
    the RecursionError (a 500) of Python's parser, nor a body handed on to validation."""
    client = Client(raise_request_exception=False)
    body = "[" * depth + "]" * depth
    token = f"Bearer {settings.SERVICE_TOKEN}"
    response = client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=token)
    assert response.status_code == 400, response.content[:300]
    answer = response.json()
    assert set(answer) == {"code", "message", "extra"}
    assert answer["code"] == "invalid_request"
    assert f"deeper than {api.LimitedJSONParser.max_depth} levels" in answer["message"]


def test_other_drf_errors_keep_the_shape(services_url):
    """A DRF error such as an unsupported method keeps the shape, with DRF's code."""
    response = requests.delete(f"{services_url}/api/shop/products/", timeout=10)
    assert response.status_code == 405
    assert response.json() == {
        "code": "method_not_allowed",
        "message": 'Method "DELETE" not allowed.',
        "extra": {},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_answers_404_in_the_error_shape(client, settings, debug):
    """Under /api/ even a wrong URL answers JSON with a code, not an HTML page, with
    DEBUG on too (where Django would show its technical 404 page)."""
    settings.DEBUG = debug
    for path in ("/api/shop/orders/not-a-uuid/", "/api/nothing/here/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_a_post_to_an_unknown_api_path_answers_404_not_a_csrf_page():
    """An API client posts without a CSRF cookie: a wrong URL still gets the JSON 404
    that names it, not the CSRF failure page (the API views are CSRF-exempt too)."""
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/checkout/", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Nothing at /api/checkout/.", "extra": {}}


HOSTILE_AUTHORIZATION = {
    "non-ascii": "Bearer dév-sérvice-tökén",
    "non-latin1": "Bearer \u2603\u2603\u2603",
    "empty": "",
    "bare-bearer": "Bearer",
    "bearer-space": "Bearer ",
    "very-long": "Bearer " + "x" * 100_000,
}
ONE_PER_APP = [
    ("GET", "/api/inventory/stock/"),
    ("POST", "/api/payments/authorizations/"),
    ("GET", f"/api/orders/{ORDER}/"),
]


@pytest.mark.parametrize(("method", "path"), ONE_PER_APP, ids=["inventory", "payments", "orders"])
@pytest.mark.parametrize("authorization", HOSTILE_AUTHORIZATION.values(), ids=HOSTILE_AUTHORIZATION.keys())
def test_any_authorization_header_is_refused_in_the_error_shape_never_a_500(method, path, authorization):
    """The token is compared as bytes: a non-ASCII, empty, bare or very long header is a
    403 permission_denied like any wrong token, never a 500 from the comparison."""
    client = Client(raise_request_exception=False)
    response = client.generic(method, path, b"{}", "application/json", HTTP_AUTHORIZATION=authorization)
    assert response.status_code in (401, 403)
    body = response.json()
    assert body["code"] in ("not_authenticated", "permission_denied")
    assert set(body) == {"code", "message", "extra"}


@pytest.mark.parametrize(
    "failure",
    [OperationalError("database is locked"), InterfaceError("connection already closed")],
    ids=["operational", "interface"],
)
def test_a_database_that_does_not_answer_is_a_503_to_retry_and_is_logged(failure, caplog):
    """A database restarting or timing out is an outage, not a bug: 503 service_unavailable,
    Retry-After, and a warning naming the driver's error (DRF answered the exception, so
    Django's own error log never sees it)."""
    response = api.exception_handler(failure, {})

    assert response is not None and response.status_code == 503
    assert response.data == {
        "code": "service_unavailable",
        "message": api.DATABASE_UNAVAILABLE,
        "extra": {"retry_after": api.DATABASE_RETRY_AFTER_S},
    }
    assert response.headers["Retry-After"] == str(api.DATABASE_RETRY_AFTER_S)
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "core.api"] == [
        ("WARNING", f"answered 503: the database failed: {type(failure).__name__}: {failure}")
    ]


@pytest.mark.parametrize("bug", [IntegrityError("duplicate key"), ProgrammingError("no such column")])
def test_a_constraint_or_sql_error_stays_a_server_error(bug):
    """A broken constraint or statement is a bug a retry will not cure: left to Django (500)."""
    assert api.exception_handler(bug, {}) is None
