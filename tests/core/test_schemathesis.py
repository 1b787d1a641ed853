"""Schemathesis against the served APIs: for every operation in the OpenAPI schema, cases
generated from it (valid and invalid) are sent to a live server, and no answer may be a
5xx, carry a status the operation does not document, or break its documented shape.

The live server is pytest-django's (``services_url``), with every app's client pointed at
it: the checkout's calls to orders, inventory and payments are real HTTP calls to the same
server, as in one deployment. No worker is needed: nothing an API answers waits on a task
(a placed order's outbox row is written, its task published to the in-memory broker).

Bounded for CI: a fixed number of examples per operation, derandomized, so a run is
repeatable and a failure reproduces with the same command.
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from django.conf import settings as django_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from core.schema import SERVICE_TOKEN_SCHEME


def _served_schema() -> dict:
    """The schema /api/schema/ serves, generated in-process: parametrizing happens at
    collection time, before any server runs (tests/core/test_schema.py checks the view
    serves this same document)."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(_served_schema())


def _internal(case) -> bool:
    """The operation asks for the service token (core.schema.SERVICE_TOKEN_SCHEME)."""
    requirements = case.operation.definition.raw.get("security", [])
    return any(SERVICE_TOKEN_SCHEME in requirement for requirement in requirements)


@pytest.fixture
def session(services_url, catalogue):  # the demo catalogue: some checkouts can succeed
    """One connection pool for the run (a fresh connection per case would exhaust ports)."""
    with requests.Session() as http:
        yield http


@schema.parametrize()
@hypothesis_settings(
    max_examples=25,
    derandomize=True,
    deadline=None,  # a checkout makes four HTTP calls; speed is bench/'s business
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    database=None,  # nothing carried between runs: CI and a laptop see the same cases
)
def test_every_operation_answers_as_documented(case, services_url, session):
    headers = {"Authorization": f"Bearer {django_settings.SERVICE_TOKEN}"} if _internal(case) else {}
    case.call_and_validate(
        base_url=services_url,
        session=session,
        headers=headers,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )


def test_a_checkout_and_its_order_answer_as_documented(services_url, session):
    """The success answers that random input rarely reaches (a SKU the catalogue sells, an
    order that exists), checked against the same schema: the checkout's 202, the public
    order status, and orders' internal view of the order."""
    body = {
        "items": [{"sku": "MOUSE-WIRELESS", "quantity": 2}],
        "email": "a@example.com",
        "payment": {"method": "card", "token": "tok_ok"},
    }
    placed = session.post(f"{services_url}/api/shop/checkout/", json=body, timeout=30)
    assert placed.status_code == 202
    schema["/api/shop/checkout/"]["POST"].validate_response(placed)

    order_id = placed.json()["order_id"]
    status = session.get(placed.json()["status_url"], timeout=30)
    assert status.status_code == 200
    schema["/api/shop/orders/{order_id}/"]["GET"].validate_response(status)

    token = {"Authorization": f"Bearer {django_settings.SERVICE_TOKEN}"}
    internal = session.get(f"{services_url}/api/orders/{order_id}/", headers=token, timeout=30)
    assert internal.status_code == 200
    schema["/api/orders/{order_id}/"]["GET"].validate_response(internal)
