"""The public checkout takes hostile input as its normal case: JSON only (415 otherwise),
a size limit (413), a nesting and a line limit (400), and each SKU's quantity limited after
repeated lines are added up. Every refusal is in the error shape, none is a 500, and none
reaches the other apps (their base URLs point nowhere here: a call would be a 503)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from shop.apis import MAX_DEPTH, MAX_LINES, MAX_QUANTITY

pytestmark = pytest.mark.django_db

URL = "/api/shop/checkout/"
GOOD: dict[str, Any] = {
    "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}],
    "email": "ada@example.com",
    "payment": {"method": "card", "token": "tok_ok"},
}
MULTIPART = '--b\r\nContent-Disposition: form-data; name="email"\r\n\r\nx\r\n--b--'


def post(body: bytes | str, content_type: str = "application/json", **extra):
    client = Client(raise_request_exception=False)
    # CONTENT_TYPE as well: the test client leaves it out when the body is empty.
    return client.post(URL, body, content_type=content_type, CONTENT_TYPE=content_type, **extra)


def error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["code"] == code
    return body["message"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "email=ada%40example.com&items=x"),
        ("multipart/form-data; boundary=b", MULTIPART),
        ("text/plain", json.dumps(GOOD)),
        ("application/x-www-form-urlencoded", ""),
    ],
    ids=["form-urlencoded", "multipart", "text-plain-with-json", "empty-form"],
)
def test_a_body_that_is_not_json_is_415_unsupported_media_type(content_type, body):
    """What a cross-site HTML form can send (a form encoding, text/plain) is refused 415
    before it is read, even an empty one; the message names the type."""
    message = error(post(body, content_type), 415, "unsupported_media_type")
    assert content_type.split(";")[0] in message


def test_a_body_over_the_size_limit_is_413_request_too_large(settings):
    """A 10 MB checkout is refused 413 request_too_large, the limit named in the message."""
    body = json.dumps({**GOOD, "note": "x" * 10_000_000})
    message = error(post(body), 413, "request_too_large")
    assert str(settings.SHOP_CHECKOUT_MAX_BYTES) in message


def test_the_size_limit_is_a_setting(settings):
    """SHOP_CHECKOUT_MAX_BYTES sets the limit: a body one byte over is refused, one at it is read."""
    body = json.dumps({**GOOD, "items": "x"}).encode()
    settings.SHOP_CHECKOUT_MAX_BYTES = len(body) - 1
    error(post(body), 413, "request_too_large")
    settings.SHOP_CHECKOUT_MAX_BYTES = len(body)
    error(post(body), 400, "invalid_request")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 30_000], ids=["just-over", "500", "30000"])
def test_a_body_nested_too_deep_is_400_invalid_request(depth):
    """Nesting past the limit is a 400 naming the limit, however deep (Python's own parser
    gives up with a RecursionError past about a thousand levels: that was a 500)."""
    body = "[" * depth + "]" * depth
    message = error(post(body), 400, "invalid_request")
    assert f"deeper than {MAX_DEPTH}" in message


def test_the_nesting_limit_leaves_room_for_a_good_body():
    """A body nested up to the limit is read and validated as usual."""
    body = {**GOOD, "extra": [[[[]]]], "email": "not-an-email"}  # 5 levels with the outer object
    assert "email" in error(post(json.dumps(body)), 400, "invalid_request")


def test_nan_and_infinity_are_not_json():
    """Python's parser accepts NaN and Infinity; the checkout answers malformed_json."""
    error(post('{"items": [{"sku": "A", "quantity": NaN}]}'), 400, "malformed_json")


def test_more_lines_than_the_limit_is_400_invalid_request():
    """At most MAX_LINES lines in one checkout; the message names the limit."""
    items = [{"sku": f"SKU-{n}", "quantity": 1} for n in range(MAX_LINES + 1)]
    message = error(post(json.dumps({**GOOD, "items": items})), 400, "invalid_request")
    assert str(MAX_LINES) in message


def test_repeated_skus_are_limited_after_they_are_added_up():
    """Two lines of the same SKU, each under the limit, over it together, are refused like
    one line over it: the quantity limit holds per SKU, not per line."""
    half = MAX_QUANTITY // 2 + 1
    items = [{"sku": "MOUSE-WIRELESS", "quantity": half}, {"sku": "MOUSE-WIRELESS", "quantity": half}]
    message = error(post(json.dumps({**GOOD, "items": items})), 400, "invalid_request")
    assert f"At most {MAX_QUANTITY}" in message and "MOUSE-WIRELESS" in message
