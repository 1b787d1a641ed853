"""The REST plumbing under every client: an unreachable app is ServiceUnavailable, an
unknown error code is a plain ApplicationError that still carries the code and status."""

from __future__ import annotations

import socket

import pytest

from config.api import ApplicationError, ServiceUnavailable
from config.service_client import call
from inventory import client as inventory_client


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_app_raises_service_unavailable(settings):
    """A connection refused becomes ServiceUnavailable, which callers may retry."""
    settings.INVENTORY_BASE_URL = closed_port_url()
    with pytest.raises(ServiceUnavailable) as unavailable:
        inventory_client.stock_list()
    assert unavailable.value.code == "service_unavailable"
    assert unavailable.value.status_code == 503


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_an_answer_that_is_not_the_error_shape_is_an_application_error(services_url):
    """A 404 page that is not JSON raises ApplicationError with the status, not a crash."""
    with pytest.raises(ApplicationError) as refused:
        call("GET", f"{services_url}/no-such-page/")
    assert type(refused.value) is ApplicationError
    assert refused.value.extra == {"code": None, "status": 404}


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_success_answer_is_the_json_body(services_url):
    """A 2xx answer is returned as its decoded JSON body."""
    assert call("GET", f"{services_url}/api/inventory/stock/") == []
