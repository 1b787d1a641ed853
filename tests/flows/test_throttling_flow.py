"""The checkout rate across the server's processes: gunicorn runs two workers, and one
client's checkouts are counted together in Redis, so the rate holds for the server as a
whole. (A per-process cache would let each worker allow the full rate: with requests spread
over both workers, more than the rate would get through.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.flows.conftest import Stack, running_stack

pytestmark = pytest.mark.flow

RATE = 6


@pytest.fixture(scope="module")
def throttled_stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("throttle"), SHOP_CHECKOUT_RATE=f"{RATE}/minute") as stack:
        yield stack


def test_one_clients_checkouts_are_counted_across_the_workers(throttled_stack):
    """Twice the rate, each on a new connection: exactly the rate gets through (an empty
    body, refused with 400 after it was counted), the rest is 429 with Retry-After."""
    url = f"{throttled_stack.url}/api/shop/checkout/"
    answers = [requests.post(url, json={}, timeout=10) for _ in range(2 * RATE)]
    assert [answer.status_code for answer in answers] == [400] * RATE + [429] * RATE
    assert all(0 < int(answer.headers["Retry-After"]) <= 60 for answer in answers[RATE:])
    assert {answer.json()["code"] for answer in answers[RATE:]} == {"throttled"}
