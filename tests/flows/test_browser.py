"""As a person would: a staff user in headless Chromium opens a failed order in the
admin, follows its trace link and finds the root cause marked with its exception.
Screenshots of the trace page and the service graph go to test-output/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.chromium import OUTPUT

pytestmark = pytest.mark.flow


def test_from_a_failed_order_in_the_admin_to_its_root_cause(calm, staff_page):
    """Admin → failed order → trace link → the failing UPDATE is the marked root cause."""
    calm.set_faults("order_db_timeout=1.0", "order_db_stall=0.2")
    order_id = calm.checkout([("WEBCAM-1080", 1)]).json()["order_id"]
    assert calm.wait_for_status(order_id, {"failed"}, timeout=60)["status"] == "failed"
    calm.manage("faults", "reset")
    calm.trace(order_id, until=lambda spans: any(s["name"] == "run/orders.compensate_order" for s in spans))

    page = staff_page
    page.goto(f"{calm.url}/admin/orders/order/?status__exact=failed&q={order_id}")
    page.click(f"a[href*='{order_id}']")
    expect(page.locator("body")).to_contain_text("finalize gave up after 4 attempts")
    page.locator("a[href^='/traces/']").first.click()

    root_cause = page.locator("#root-cause")
    expect(root_cause).to_be_visible()
    expect(root_cause).to_contain_text("UPDATE")
    expect(page.locator("body")).to_contain_text(
        "OperationalError" if "sqlite" in calm.env["DATABASE_URL"] else "QueryCanceled"
    )
    # Any other span's details are fetched when it is opened.
    run = page.locator("tr.span-row", has_text="run/orders.finalize_order").first
    details = page.locator(f"tr.details[data-details-for='{run.get_attribute('data-span-id')}']")
    expect(details).to_be_hidden()
    run.locator("td.name").click()
    expect(details).to_be_visible()
    expect(details).to_contain_text("service.namespace")
    expect(details).to_contain_text("retrying in")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "trace-page.png"), full_page=True)

    page.goto(f"{calm.url}/traces/services/")
    expect(page.locator("svg").first).to_be_visible()
    page.screenshot(path=str(OUTPUT / "service-graph.png"), full_page=True)
