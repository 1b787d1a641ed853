"""A page whose view meets a database outage answers 503 with ``Retry-After`` and a page
that says to try again, rendered without the session; the request's span keeps the
exception. A bug (an integrity error) stays a 500."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError
from django.test import Client
from opentelemetry.trace import StatusCode

from core.api import DATABASE_RETRY_AFTER_S
from shop import selectors

pytestmark = pytest.mark.django_db(databases="__all__")


def fail_with(exc: Exception):
    def listings(*args, **kwargs):
        raise exc

    return listings


def test_the_storefront_answers_503_with_retry_after_when_the_database_does_not_answer(
    client, monkeypatch, spans
):
    monkeypatch.setattr(
        selectors, "product_listings", fail_with(OperationalError("the server closed the connection"))
    )
    answer = client.get("/")
    assert answer.status_code == 503
    assert answer["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    page = answer.content.decode()
    assert "Back in a moment" in page and f"try again in {DATABASE_RETRY_AFTER_S} seconds" in page
    assert "Traceback" not in page and "OperationalError" not in page
    (request,) = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert request.status.status_code == StatusCode.ERROR
    assert any(
        e.attributes and e.attributes.get("exception.type", "").endswith("OperationalError")
        for e in request.events
    )


def test_a_bug_in_the_sql_stays_a_500():
    client = Client(raise_request_exception=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(selectors, "product_listings", fail_with(IntegrityError("duplicate key")))
        assert client.get("/").status_code == 500
