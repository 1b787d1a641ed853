"""Storefront pages: catalogue, cart, checkout form and the order's status page."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.api import ApplicationError
from orders import client as orders_client
from orders.errors import OrderNotFound
from shop import selectors, services
from shop.cart import cart_add, cart_clear, cart_items, cart_remove
from shop.forms import CheckoutForm


def product_list(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/product_list.html", {"products": selectors.product_listings()})


@require_POST
def cart_add_view(request: HttpRequest, sku: str) -> HttpResponse:
    try:
        quantity = max(1, min(100, int(request.POST.get("quantity", 1))))
    except ValueError:
        quantity = 1
    cart_add(request.session, sku, quantity)
    messages.success(request, f"Added {sku} to your cart.")
    return redirect("shop:product-list")


@require_POST
def cart_remove_view(request: HttpRequest, sku: str) -> HttpResponse:
    cart_remove(request.session, sku)
    return redirect("shop:cart")


def cart_view(request: HttpRequest) -> HttpResponse:
    items = cart_items(request.session)
    products = selectors.products_by_sku(list(items))
    lines = [
        {"product": products[sku], "quantity": qty, "total": f"{products[sku].price_cents * qty / 100:.2f}"}
        for sku, qty in items.items()
        if sku in products
    ]
    total_cents = sum(products[sku].price_cents * qty for sku, qty in items.items() if sku in products)
    form = CheckoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and lines:
        try:
            order = services.checkout(
                items=[services.CheckoutItem(sku, qty) for sku, qty in items.items()],
                email=form.cleaned_data["email"],
                payment_token=form.cleaned_data["card"],
                idempotency_key=form.cleaned_data["checkout_key"],  # a double submit charges once
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            cart_clear(request.session)
            return redirect("shop:order-detail", order_id=order.order_id)
    context = {"lines": lines, "total": f"{total_cents / 100:.2f}", "form": form}
    return render(request, "shop/cart.html", context)


def order_detail(request: HttpRequest, order_id) -> HttpResponse:
    try:
        order = orders_client.order_get(order_id=order_id)
    except OrderNotFound:
        raise Http404(f"No order {order_id}.") from None
    return render(
        request, "shop/order_detail.html", {"order": order, "total": f"{order.total_cents / 100:.2f}"}
    )
