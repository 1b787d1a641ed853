"""Storefront pages: catalogue, product pages, cart, checkout form and the order's page."""

from functools import lru_cache
from pathlib import Path

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from core.api import ApplicationError
from orders import client as orders_client
from orders.errors import OrderNotFound
from shop import order_page, selectors, services
from shop.cart import cart_add, cart_clear, cart_items, cart_remove, cart_set
from shop.formatting import count_items
from shop.forms import CheckoutForm
from shop.throttling import form_checkout_refusal, form_checkout_wait

MAX_QUANTITY = 100
FAVICON = Path(__file__).resolve().parent / "static" / "shop" / "favicon.svg"


@lru_cache(maxsize=256)
def product_image(sku: str) -> str:
    """The product's picture, shipped under static/shop/products/, or the generic one."""
    name = f"shop/products/{sku.lower()}.svg"
    return static(name if finders.find(name) else "shop/products/generic.svg")


def product_list(request: HttpRequest) -> HttpResponse:
    products = [(product, product_image(product.sku)) for product in selectors.product_listings()]
    return render(request, "shop/product_list.html", {"products": products})


def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    product = selectors.product_listing(sku)
    if product is None:
        raise Http404("No such product.")  # not the SKU: a URL's text may be anything
    in_cart = cart_items(request.session).get(sku, 0)
    context = {
        "product": product,
        "image": product_image(sku),
        "in_cart": in_cart,
        "max_quantity": max(1, min(MAX_QUANTITY, product.available)),
    }
    return render(request, "shop/product_detail.html", context)


def _quantity(request: HttpRequest, default: int, minimum: int) -> int:
    try:
        return max(minimum, min(MAX_QUANTITY, int(request.POST.get("quantity", default))))
    except ValueError:
        return default


def _back(request: HttpRequest, default: str, **kwargs) -> HttpResponse:
    """Back to the page the form was on (a local ``next``), or to ``default``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default, **kwargs)


@require_POST
def cart_add_view(request: HttpRequest, sku: str) -> HttpResponse:
    products = selectors.products_by_sku([sku])
    if sku not in products:  # taken off sale meanwhile, or a made-up URL
        messages.error(request, "That product is no longer sold.")
        return redirect("shop:product-list")
    quantity = _quantity(request, default=1, minimum=1)
    cart_add(request.session, sku, quantity)
    what = products[sku].name if quantity == 1 else f"{quantity} × {products[sku].name}"
    messages.success(request, f"Added {what} to your cart.")
    return _back(request, "shop:product-detail", sku=sku)


@require_POST
def cart_update_view(request: HttpRequest, sku: str) -> HttpResponse:
    """Set a line's quantity; 0 removes it."""
    products = selectors.products_by_sku([sku])
    quantity = _quantity(request, default=cart_items(request.session).get(sku, 0), minimum=0)
    cart_set(request.session, sku, quantity)
    if sku in products:
        name = products[sku].name
        said = f"{name}: now {count_items(quantity)}." if quantity else f"Removed {name} from your cart."
        messages.success(request, said)
    return redirect("shop:cart")


@require_POST
def cart_remove_view(request: HttpRequest, sku: str) -> HttpResponse:
    products = selectors.products_by_sku([sku])
    cart_remove(request.session, sku)
    if sku in products:
        messages.success(request, f"Removed {products[sku].name} from your cart.")
    return redirect("shop:cart")


def cart_view(request: HttpRequest) -> HttpResponse:
    items = cart_items(request.session)
    products = selectors.products_by_sku(list(items))
    lines = [
        {
            "product": products[sku],
            "image": product_image(sku),
            "quantity": qty,
            "total_cents": products[sku].price_cents * qty,
        }
        for sku, qty in items.items()
        if sku in products
    ]
    form = CheckoutForm(request.POST or None)
    # Counted like the API's checkouts, valid or not: over the rate, nothing is placed.
    wait = form_checkout_wait(request) if request.method == "POST" else None
    if wait is not None:
        messages.error(request, form_checkout_refusal(wait))
    elif request.method == "POST" and form.is_valid() and lines:
        try:
            order = services.checkout(
                items=[services.CheckoutItem(sku, qty) for sku, qty in items.items()],
                email=form.cleaned_data["email"],
                payment_token=form.cleaned_data["card"],
                idempotency_key=form.idempotency_key(),  # a double submit charges once
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            cart_clear(request.session)
            return redirect("shop:order-detail", order_id=order.order_id)
    context = {
        "lines": lines,
        "total_cents": sum(products[sku].price_cents * qty for sku, qty in items.items() if sku in products),
        "count": sum(qty for sku, qty in items.items() if sku in products),
        "max_quantity": MAX_QUANTITY,
        "form": form,
    }
    response = render(request, "shop/cart.html", context, status=200 if wait is None else 429)
    if wait is not None:
        response["Retry-After"] = str(wait)
    return response


def order_detail(request: HttpRequest, order_id) -> HttpResponse:
    """The customer's page of an order. Staff also see its internals: the reason as
    recorded, the event history and the trace link."""
    try:
        order = orders_client.order_get(order_id=order_id)
    except OrderNotFound:
        raise Http404(f"No order {order_id}.") from None
    context = {
        "order": order,
        "summary": order_page.summarise(order),
        "reference": order_page.reference(order),
        "placed_at": order_page.placed_at(order),
        "count": sum(line.quantity for line in order.lines),
        "lines": [
            {
                "line": line,
                "image": product_image(line.sku),
                "total_cents": line.unit_price_cents * line.quantity,
            }
            for line in order.lines
        ],
        "staff": request.user.is_staff,
        "events": order_page.staff_events(order) if request.user.is_staff else [],
    }
    return render(request, "shop/order_detail.html", context)


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """/favicon.ico, which browsers ask for on every page (the shop's, the admin's, the
    viewer's): the shop's mark, as SVG."""
    return FileResponse(FAVICON.open("rb"), content_type="image/svg+xml")
