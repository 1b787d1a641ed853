"""The storefront's pages in Chromium where the flow tests do not take them: a German and a
French customer's prices (the words stay English), and the cart page a customer past the
checkout rate gets. Screenshots in ``test-output/`` (``storefront-de-product.png``, ...) are
for people to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from core.api import ApplicationError
from shop import services
from tests.chromium import OUTPUT, launch

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCT = "/products/LAPTOP-GAMING-15/"


@pytest.fixture
def browser(services_url, catalogue, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM is done by now.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def shot(page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(
    ("locale", "price"), [("de-DE", "1.899,00\u00a0€"), ("fr-FR", "1\u202f899,00\u00a0€")]
)
def test_a_customer_reads_prices_in_the_browsers_language_and_the_shops_words(
    browser, live_server, locale, price
):
    page = browser.new_page(locale=locale, viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}{PRODUCT}")
    expect(page.locator("main")).to_contain_text(price)
    expect(page.locator("main")).to_contain_text("Add to cart")
    page.fill("input[name=quantity]", "2")
    page.click("text=Add to cart")
    expect(page.locator("main")).to_contain_text("Added 2 × Gaming laptop")
    page.goto(f"{live_server.url}/cart/")
    page.fill("input[name=email]", "not-an-address")
    page.locator("form.checkout").evaluate(
        "form => form.setAttribute('novalidate', '')"
    )  # the server's check
    page.click("form.checkout button[type=submit]")
    expect(page.locator("main")).to_contain_text("Enter a valid email address.")
    shot(page, f"storefront-{locale[:2]}-cart")


def refuse(**kwargs):
    raise ApplicationError("not placed in this test")


def test_a_customer_past_the_checkout_rate_is_told_when_to_try_again(
    browser, live_server, settings, monkeypatch
):
    """The third checkout within the minute (at 2/minute) gets the 429 page: when to try
    again, nothing charged, the cart kept."""
    settings.SHOP_CHECKOUT_RATE = "2/minute"
    monkeypatch.setattr(services, "checkout", refuse)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}{PRODUCT}")
    page.click("text=Add to cart")
    expect(page.locator("main")).to_contain_text("Added Gaming laptop")
    for _ in range(3):
        page.goto(f"{live_server.url}/cart/")
        page.fill("input[name=email]", "ada@example.com")
        page.click("form.checkout button[type=submit]")
    expect(page.locator("main")).to_contain_text("try again in")
    expect(page.locator("main")).to_contain_text("nothing was charged")
    shot(page, "storefront-429-cart")
