"""Fixtures of the shop's tests."""

from __future__ import annotations

import pytest

from core.api import ApplicationError
from shop import services


@pytest.fixture
def form_checkouts(monkeypatch) -> list[dict]:
    """The checkouts the storefront's form asked the service for, none of them run: each
    call is recorded and refused, so the form answers without placing an order."""
    calls: list[dict] = []

    def checkout(**kwargs):
        calls.append(kwargs)
        raise ApplicationError("not placed in this test")

    monkeypatch.setattr(services, "checkout", checkout)
    return calls
