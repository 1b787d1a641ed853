"""The OpenAPI schema (core.schema, served at /api/schema/) and its docs page: who may read
them, and that the schema describes what the APIs share."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

SCHEMA = "/api/schema/?format=json"


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("engineer", password="x" * 12, is_staff=True)
    client.force_login(user)
    return client


def test_anonymous_callers_may_not_read_the_schema(client):
    """It describes the internal APIs: not for customers."""
    response = client.get(SCHEMA)
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


def test_a_signed_in_customer_who_is_not_staff_may_not_either(client):
    client.force_login(get_user_model().objects.create_user("customer", password="x" * 12))
    assert client.get(SCHEMA).status_code == 403


def test_staff_and_the_service_token_may(staff_client, client):
    assert staff_client.get(SCHEMA).status_code == 200
    staff_client.logout()
    with_token = client.get(SCHEMA, headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"})
    assert with_token.status_code == 200


def test_the_docs_page_sends_anonymous_visitors_to_the_admin_login(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_docs_page_loads_only_local_files_and_no_inline_script(staff_client):
    """Swagger UI from the sidecar's static files, its settings script from the page's own
    URL: within the CSP's script-src 'self', and nothing fetched from a CDN."""
    page = staff_client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "<script>" not in page and "https://" not in page
    script = staff_client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


@pytest.fixture
def document(staff_client) -> dict:
    return staff_client.get(SCHEMA).json()


def test_every_api_is_described(document):
    prefixes = {path.split("/")[2] for path in document["paths"]}
    assert prefixes == {"shop", "orders", "inventory", "payments"}


def test_internal_operations_ask_for_the_service_token_and_public_ones_for_nothing(document):
    for path, operations in document["paths"].items():
        for operation in operations.values():
            internal = not path.startswith("/api/shop/")
            assert operation["security"] == ([{"serviceToken": []}] if internal else [{}]), path
            assert ("403" in operation["responses"]) == internal, path
    assert document["components"]["securitySchemes"]["serviceToken"]["scheme"] == "bearer"


def test_refusals_are_in_the_error_shape(document):
    checkout = document["paths"]["/api/shop/checkout/"]["post"]
    assert set(checkout["responses"]) >= {"202", "400", "402", "409", "413", "415", "422", "503"}
    refused = checkout["responses"]["409"]["content"]["application/json"]["schema"]
    assert refused == {"$ref": "#/components/schemas/Error"}
    assert set(document["components"]["schemas"]["Error"]["required"]) == {"code", "message", "extra"}


def test_idempotency_key_is_described_where_it_is_taken(document):
    def takes_key(path: str) -> bool:
        parameters = document["paths"][path]["post"].get("parameters", [])
        return any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)

    assert takes_key("/api/shop/checkout/")
    assert takes_key("/api/payments/authorizations/")
    assert not takes_key("/api/orders/")
