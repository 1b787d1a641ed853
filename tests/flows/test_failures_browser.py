"""As a person would during an incident: orders fail two ways on the real stack (server,
worker, beat, Redis), a staff user in headless Chromium opens /traces/failures/ and sees
both causes with their counts, orders and outcomes, follows the newest example to its root
cause, and finds each failed order's group in the admin's list. Screenshot in test-output/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.chromium import OUTPUT
from tests.flows.conftest import Stack, running_stack

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def incident(tmp_path_factory) -> Iterator[Stack]:
    """A stack of its own: the page's counts are this incident's alone, not those of the
    other flow tests' failures on the session stack."""
    with running_stack(tmp_path_factory.mktemp("incident")) as started:
        yield started


@pytest.fixture
def stack(incident: Stack) -> Stack:
    """``calm`` and ``staff_page`` (tests/flows/conftest.py) use this module's stack."""
    return incident


def failed_orders(stack, fault: str, count: int) -> list[str]:
    stack.set_faults(f"{fault}=1.0")
    ids = []
    for _ in range(count):
        body = stack.checkout([("WEBCAM-1080", 1)]).json()
        ids.append(body["order_id"] if "order_id" in body else body["extra"]["order_id"])  # refused: 503
    for order_id in ids:  # given up: being undone, or undone
        assert stack.wait_for_status(order_id, {"failing", "failed"}, timeout=120)["status"] in {
            "failing",
            "failed",
        }
    stack.manage("faults", "reset")  # the undoing may need payments back (reconcile finishes it)
    for order_id in ids:
        assert stack.wait_for_status(order_id, {"failed"}, timeout=120)["status"] == "failed"
    return ids


def test_an_incident_at_a_glance_on_the_failures_page(calm, staff_page):  # noqa: F811
    timeouts = failed_orders(calm, "order_db_timeout", 2)
    unreachable = failed_orders(calm, "payments_unreachable", 1)
    for order_id in timeouts:  # every span of the failure stored, compensation included
        calm.trace(
            order_id, until=lambda spans: any(s["name"] == "run/orders.compensate_order" for s in spans)
        )

    page = staff_page
    # The page groups the traces that settled (a few seconds without a new span): reload
    # until both causes are in, however slow the machine.
    deadline = time.monotonic() + 120
    while True:
        page.goto(f"{calm.url}/traces/failures/?window=15m")
        if page.locator("tr.group.error").count() >= 2 and "3</strong> orders" in page.content():
            break
        assert time.monotonic() < deadline, page.locator("body").inner_text()
        page.wait_for_timeout(1000)

    headline = page.locator("#failures-headline")
    expect(headline).to_contain_text("3 orders affected")
    timeout_row = page.locator("tr.group", has_text="UPDATE orders_order")
    expect(timeout_row).to_contain_text("order_db_timeout")
    expect(timeout_row.locator("td.num").first).to_have_text("2")
    expect(timeout_row).to_contain_text("new")
    for order_id in timeouts:
        expect(timeout_row).to_contain_text(order_id[:8])
    unreachable_row = page.locator("tr.group", has_text="payments_unreachable")
    expect(unreachable_row.locator("td.num").first).to_have_text("1")
    expect(unreachable_row).to_contain_text(unreachable[0][:8])
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "failures-page.png"), full_page=True)

    timeout_row.locator("a.example").click()
    expect(page.locator("#root-cause")).to_contain_text("UPDATE")

    page.goto(f"{calm.url}/admin/orders/order/?status__exact=failed")
    links = {}
    for order_id in timeouts + unreachable:
        row = page.locator("tr", has=page.locator(f"span[title='{order_id}']"))  # the list shows short ids
        link = row.locator("td.field-status_and_group a.failure-group")
        expect(link).to_have_attribute("href", re.compile(r"^/traces/failures/#group-\d+$"))
        links[order_id] = link.get_attribute("href")
    assert links[timeouts[0]] == links[timeouts[1]] != links[unreachable[0]]
    page.set_viewport_size({"width": 1800, "height": 900})  # the admin's list is wide
    page.screenshot(path=str(OUTPUT / "failed-orders-groups.png"), full_page=True)
