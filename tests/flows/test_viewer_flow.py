"""The trace viewer on a trace the real processes stored: a staff member logged in to the
real server finds a failed order's trace, its root cause marked with the driver's error,
and the log records the worker wrote inside its spans."""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pytest
import requests

from tests.flows.conftest import compensation_stored, confirmation_stored

pytestmark = pytest.mark.flow

USERNAME, PASSWORD = "viewer-flow", "viewer-flow-pw"
DRIVER_ERRORS = {"sqlite3.OperationalError", "psycopg.errors.QueryCanceled"}


@pytest.fixture(scope="module")
def failed(stack) -> dict:
    """An order whose every confirmation UPDATE timed out, failed and undone, with its
    stored spans (the compensation included)."""
    stack.manage("faults", "reset")
    stack.set_faults("order_db_timeout=1.0", "order_db_stall=0.3")
    try:
        response = stack.checkout([("MOUSE-WIRELESS", 1)])
        assert response.status_code == 202, response.text
        order_id, trace_id = response.json()["order_id"], response.json()["trace_id"]
        assert stack.wait_for_status(order_id, {"confirmed", "failed"}, timeout=60)["status"] == "failed"
    finally:
        stack.manage("faults", "reset")
    spans = stack.trace(order_id, until=compensation_stored)
    return {"order_id": order_id, "trace_id": trace_id, "spans": spans}


@pytest.fixture(scope="module")
def staff(stack) -> requests.Session:
    """A session logged in to the admin as a staff member, as a person would."""
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        f"User.objects.filter(username={USERNAME!r}).exists() or "
        f"User.objects.create_superuser({USERNAME!r}, 'viewer@example.com', {PASSWORD!r})",
    )
    session = requests.Session()
    login = session.get(f"{stack.url}/admin/login/", timeout=10)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
    assert found, "the login page carries a CSRF token"
    token = found.group(1)
    response = session.post(
        f"{stack.url}/admin/login/?next=/traces/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/traces/"},
        headers={"Referer": f"{stack.url}/admin/login/"},
        timeout=10,
    )
    assert response.url == f"{stack.url}/traces/", response.url
    return session


def row_text(html: str, element_id: str) -> str:
    """The text of the waterfall row with this id."""
    start = html.index(f'id="{element_id}"')
    row = html[start : html.index("</tr>", start)]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)))


def test_a_failed_orders_trace_page_marks_the_timed_out_update_as_root_cause(stack, failed, staff):
    """The first attempt's confirmation UPDATE (the earliest, deepest error) is the row
    with id ``root-cause``, and the driver's error and stack trace are on the page without
    a click; the worker's retry warning is in the first attempt's details."""
    spans = failed["spans"]
    first_attempt = min(
        (s for s in spans if s["name"] == "run/orders.finalize_order"), key=lambda s: s["start_time"]
    )
    [update] = [
        s for s in spans if s["parent_span_id"] == first_attempt["span_id"] and s["status"] == "ERROR"
    ]
    [driver_error] = [e["attributes"]["exception.type"] for e in update["events"] if e["name"] == "exception"]
    assert driver_error in DRIVER_ERRORS

    details_url = f"{stack.url}/traces/{failed['trace_id']}/spans/{first_attempt['span_id']}/"
    details = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # log records are written in batches, like spans
        response = staff.get(details_url, timeout=10)  # what opening the attempt's row fetches
        assert response.status_code == 200
        details = response.text
        if "retrying in" in details:
            break
        time.sleep(0.5)
    page = staff.get(f"{stack.url}/traces/{failed['trace_id']}/", timeout=10)
    assert page.status_code == 200
    html = page.text

    assert f'data-span-id="{update["span_id"]}"' in html[html.index('id="root-cause"') :][:300]
    root_cause = row_text(html, "root-cause")
    assert "UPDATE" in root_cause and driver_error in root_cause
    box = html[html.index('class="root-cause-box"') :]
    box = box[: box.index("</section>")]
    assert driver_error in box and "Traceback (most recent call last)" in box
    assert "order_db_timeout" in box
    assert f"/admin/orders/order/{failed['order_id']}/change/" in html
    assert f"finalize of order {failed['order_id']} failed (attempt 1), retrying in" in details


def test_the_failed_trace_is_found_by_its_order_and_downloads_whole(stack, failed, staff):
    """Search by the ``order.id`` attribute with errors only; the OTLP download holds every
    stored span of the trace."""
    search = staff.get(
        f"{stack.url}/traces/", params={"attr": f"order.id={failed['order_id']}", "errors": "on"}, timeout=10
    )
    assert re.findall(r'data-trace-id="(\w+)"', search.text) == [failed["trace_id"]]
    assert "badge-error" in search.text

    download = staff.get(f"{stack.url}/traces/{failed['trace_id']}/otlp.json", timeout=10)
    document = json.loads(download.content)
    span_ids = {
        span["spanId"]
        for resource_spans in document["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    }
    stored = json.loads(stack.manage("trace", failed["trace_id"], "--json"))
    assert span_ids == {span["span_id"] for span in stored}


def test_a_failed_order_compared_with_a_confirmed_one(stack, failed, staff):
    """The failed order's retries and compensation against the confirmed order's capture."""
    stack.manage("faults", "reset")
    response = stack.checkout([("MOUSE-WIRELESS", 1)])
    order_id = response.json()["order_id"]
    assert stack.wait_for_status(order_id, {"confirmed", "failed"})["status"] == "confirmed"
    stack.trace(order_id, until=confirmation_stored)

    page = staff.get(
        f"{stack.url}/traces/compare/",
        params={"a": failed["trace_id"], "b": response.json()["trace_id"]},
        timeout=10,
    )
    assert page.status_code == 200
    html = unescape(page.text)
    assert re.search(r'class="op changed only_a"[^>]*>\s*<td><span[^>]*>orders-worker</span></td>\s*'
                     r"<td>run/orders.compensate_order</td>", html)  # fmt: skip
    assert re.search(r'class="op changed only_b"[^>]*>\s*<td><span[^>]*>payments-worker</span></td>\s*'
                     r"<td>run/payments.capture_payment</td>", html)  # fmt: skip
