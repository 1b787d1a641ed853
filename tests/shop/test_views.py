"""The storefront's pages, rendered against the other apps' real APIs: product pages,
the cart with quantities, and the order page in a customer's words (staff also see the
internals). Prices are euros, never cents."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import translation

from orders import services as order_services
from orders.models import Order
from shop import services

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ISO_WITH_MICROSECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+")


def test_the_catalogue_links_each_product_to_its_page_with_its_picture(client, services_url, catalogue):
    page = client.get("/").content.decode()
    assert 'href="/products/MOUSE-WIRELESS/"' in page
    assert "/static/shop/products/mouse-wireless.svg" in page
    assert "€29.99" in page and "€1,899.00" in page
    assert "¢" not in page and "2999" not in page


def test_a_product_page_shows_the_product_and_a_quantity_to_add(client, services_url, catalogue):
    page = client.get("/products/KEYBOARD-MECH/").content.decode()
    assert "Mechanical keyboard" in page and "€89.00" in page
    assert 'name="quantity"' in page and 'action="/cart/add/KEYBOARD-MECH/"' in page


def test_an_unknown_product_has_no_page(client, services_url, catalogue):
    assert client.get("/products/NOPE/").status_code == 404


def test_adding_a_product_not_on_sale_adds_nothing_and_says_so(client, services_url, catalogue):
    response = client.post("/cart/add/NOPE/", {"quantity": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "That product is no longer sold." in response.content.decode()
    assert client.session.get("cart", {}) == {}


def test_adding_names_the_product_and_returns_to_its_page(client, services_url, catalogue):
    response = client.post("/cart/add/MOUSE-WIRELESS/", {"quantity": "2"}, follow=True)
    assert response.redirect_chain[-1][0] == "/products/MOUSE-WIRELESS/"
    page = response.content.decode()
    assert "Added 2 × Wireless mouse to your cart." in page
    assert "MOUSE-WIRELESS to your cart" not in page
    assert "2 items in" in page
    page = client.post("/cart/add/MOUSE-WIRELESS/", {"quantity": "1"}, follow=True).content.decode()
    assert "Added Wireless mouse to your cart." in page and "3 items in" in page


def test_the_cart_changes_a_quantity_and_zero_removes_the_line(client, services_url, catalogue):
    client.post("/cart/add/MOUSE-WIRELESS/", {"quantity": "1"})
    client.post("/cart/add/HEADSET-USB/", {"quantity": "1"})
    page = client.get("/cart/").content.decode()
    assert "Total · 2 items" in page and "€88.99" in page

    page = client.post("/cart/update/MOUSE-WIRELESS/", {"quantity": "3"}, follow=True).content.decode()
    assert "Wireless mouse: now 3 items." in page
    assert "Total · 4 items" in page and "€148.97" in page  # 3 x 29.99 + 59.00

    page = client.post("/cart/update/MOUSE-WIRELESS/", {"quantity": "0"}, follow=True).content.decode()
    assert "Removed Wireless mouse from your cart." in page
    assert "Total · 1 item<" in page and "€59.00" in page


def test_the_customers_language_writes_the_prices(client, services_url, catalogue):
    """Accept-Language chooses how prices are written: German "1.899,00 €", English
    "€1,899.00"; a language the shop does not offer gets the default, English."""
    german = client.get("/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    page = german.content.decode()
    assert "29,99\u00a0€" in page and "1.899,00\u00a0€" in page
    assert "€29.99" not in page
    assert "Accept-Language" in german["Vary"]

    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8").content.decode()
    assert "€29.99" in page and "€1,899.00" in page and "29,99" not in page
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-CH, fr;q=0.9").content.decode()
    assert "29,99\u00a0€" in page
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "€29.99" in page


def test_the_cart_writes_its_prices_and_total_in_the_customers_language(client, services_url, catalogue):
    client.post("/cart/add/MOUSE-WIRELESS/", {"quantity": "3"})
    client.post("/cart/add/LAPTOP-GAMING-15/", {"quantity": "1"})
    page = client.get("/cart/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "29,99\u00a0€" in page and "89,97\u00a0€" in page  # a unit price, a line
    assert "1.988,97\u00a0€" in page  # the total, grouped the German way
    page = client.get("/cart/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "€29.99" in page and "€89.97" in page and "€1,988.97" in page


def test_a_german_customer_reads_german_prices_in_an_english_page(client, services_url, catalogue):
    """The locale writes numbers only: the words, Django's own form errors among them, stay
    the shop's English (no page in two languages), and the page says so (no German
    Content-Language)."""
    client.post("/cart/add/MOUSE-WIRELESS/", {"quantity": "1"})
    answer = client.post("/cart/", {"email": "not-an-address", "card": "tok_ok"}, HTTP_ACCEPT_LANGUAGE="de")
    page = answer.content.decode()
    assert "29,99\u00a0€" in page
    assert "Enter a valid email address." in page and "E-Mail" not in page
    assert answer.get("Content-Language") in (None, "en")
    assert translation.get_language() == "en-us"


def test_only_the_storefront_follows_the_customers_language(admin_client, services_url, catalogue):
    """The admin, the APIs and the trace viewer stay in the default language (the viewer
    writes numbers into SVG and style attributes), and a German page leaves nothing behind
    for the next request on the same thread."""
    assert "29,99\u00a0€" in admin_client.get("/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    for path in ("/admin/", "/traces/", "/api/shop/products/"):
        response = admin_client.get(path, HTTP_ACCEPT_LANGUAGE="de")
        assert response.status_code == 200, path
        assert "Content-Language" not in response, path
    admin_page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Log out" in admin_page and "Abmelden" not in admin_page
    assert translation.get_language() == "en-us"


def test_customers_see_no_staff_links_and_staff_do(client, admin_client, services_url, catalogue):
    for page in (client.get("/").content.decode(), client.get("/cart/").content.decode()):
        assert 'href="/admin/"' not in page and 'href="/traces/"' not in page
    staff_page = admin_client.get("/").content.decode()
    assert 'href="/admin/"' in staff_page and 'href="/traces/"' in staff_page


@pytest.fixture
def failed_order(services_url, catalogue, worker):
    """An order placed through the checkout whose finalisation gave up, then undone by
    payments' and inventory's workers."""
    order = services.checkout(
        items=[services.CheckoutItem("HEADSET-USB", 1)], email="ada@example.com", payment_token="tok_ok"
    )
    reason = "finalize gave up after 4 attempts: OperationalError: interrupted"
    worker.clear()
    order_services.order_compensate(order_id=uuid.UUID(order.order_id), reason=reason)
    worker.run(skip=("orders.send_order_email",))
    assert Order.objects.get(pk=order.order_id).status == Order.Status.FAILED
    return order


def test_a_failed_order_tells_the_customer_in_plain_words_and_nothing_internal(client, failed_order):
    page = client.get(f"/orders/{failed_order.order_id}/").content.decode()

    assert "We could not complete your order" in page
    assert "Your card was not charged" in page and "try again" in page
    assert "€59.00" in page and "Total · 1 item" in page
    for internal in (
        "OperationalError",
        "finalize",
        "payment_voided",
        "failed</code>",
        failed_order.trace_id,
    ):
        assert internal not in page
    assert "/traces/" not in page and "/admin/" not in page
    assert "¢" not in page and "cents" not in page
    assert not ISO_WITH_MICROSECONDS.search(page)
    assert '<meta http-equiv="refresh"' not in page  # settled: no more refreshing


def test_the_order_page_writes_money_in_the_customers_language_and_words_in_english(client, failed_order):
    """Under German, the amounts are German ("59,00 €"), and the date's month is in the
    page's own language, not half-translated."""
    page = client.get(f"/orders/{failed_order.order_id}/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "59,00\u00a0€" in page and "€59.00" not in page
    month = failed_order_month(page)
    assert month in ENGLISH_MONTHS, month


ENGLISH_MONTHS = {
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
}  # fmt: skip


def failed_order_month(page: str) -> str:
    ordered = re.search(r"Ordered</span><br>\d+ (\w+) \d{4}", page)
    assert ordered, "the page shows when the order was placed"
    return ordered.group(1)


def test_staff_see_the_internals_and_the_trace_link(admin_client, failed_order):
    page = admin_client.get(f"/orders/{failed_order.order_id}/").content.decode()
    assert "We could not complete your order" in page
    assert "OperationalError: interrupted" in page and "<code>payment_voided</code>" in page
    assert f'href="/traces/{failed_order.trace_id}/"' in page


def test_the_page_of_an_order_being_undone_says_so_and_keeps_refreshing(client, services_url):
    """A failing order says the payment is being cancelled, without its reason; the page
    refreshes until the order is failed."""
    line = order_services.LineInput(
        sku="MOUSE-WIRELESS", name="Wireless mouse", quantity=1, unit_price_cents=2999
    )
    order = order_services.order_create(email="ada@example.com", lines=[line])
    Order.objects.filter(pk=order.pk).update(status=Order.Status.FAILING, reason="finalize gave up")

    page = client.get(f"/orders/{order.id}/").content.decode()

    assert "We are cancelling the payment" in page and "finalize gave up" not in page
    assert "€29.99" in page
    assert '<meta http-equiv="refresh"' in page


def test_the_favicon_is_the_shops_mark(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(response.streaming_content)
