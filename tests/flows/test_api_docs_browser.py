"""The API docs page as an engineer sees it: a staff user in headless Chromium opens
/api/docs/, and Swagger UI, loaded from the shop's own static files under its
Content-Security-Policy, lists every operation of the schema. Screenshot:
test-output/api-docs.png."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.chromium import OUTPUT

pytestmark = pytest.mark.flow


def test_the_docs_page_renders_every_operation_within_the_csp(stack, browser):
    stack.manage(
        "shell", "-c",
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='docs').exists() or "
        "User.objects.create_user('docs', password='docs-password', is_staff=True)",
    )  # fmt: skip
    schema = stack.internal("GET", "/api/schema/?format=json").json()
    operations = sum(len(methods) for methods in schema["paths"].values())
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{stack.url}/admin/login/")
    page.fill("#id_username", "docs")
    page.fill("#id_password", "docs-password")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    # From here on, the docs page alone.
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{stack.url}/api/docs/")

    expect(page.locator(".opblock")).to_have_count(operations)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "api-docs.png"), full_page=True)
    page.close()
    assert errors == []  # a CSP violation is reported as a console error
    assert [url for url in requested if not url.startswith(stack.url)] == []
    assert requests.get(f"{stack.url}/api/docs/", timeout=10, allow_redirects=False).status_code == 302
