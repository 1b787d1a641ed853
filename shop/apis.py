"""The shop's public API: products, checkout, order status. Thin: validate, call, serialize.

The checkout is the one public write, so it takes hostile input as its normal case: JSON
only (a cross-site HTML form cannot send it), at most ``SHOP_CHECKOUT_MAX_BYTES``, nested at
most ``MAX_DEPTH`` deep, at most ``MAX_LINES`` lines, each SKU's quantity limited after
repeated lines are added up.
"""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from core.api import ApplicationError, LimitedJSONParser
from core.idempotency import HEADER, idempotent
from core.schema import IDEMPOTENT_REPLAYED, idempotency_key, refusals
from orders import client as orders_client
from shop import selectors, services
from shop.errors import InvalidIdempotencyKey
from shop.models import IdempotentRequest
from shop.throttling import CheckoutRateThrottle


class ProductListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        sku = serializers.CharField()
        name = serializers.CharField()
        price_cents = serializers.IntegerField()
        available = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        return Response(self.OutputSerializer(selectors.product_listings(), many=True).data)


MAX_DEPTH = 5  # the checkout's body is 3 deep: {"items": [{"sku": …}]}
MAX_LINES = 50
MAX_QUANTITY = 100  # per SKU, whatever the lines it is spread over


class CheckoutJSONParser(LimitedJSONParser):
    """JSON within the checkout's limits: its size (read no further), its nesting."""

    max_depth = MAX_DEPTH

    def max_bytes(self) -> int:
        return settings.SHOP_CHECKOUT_MAX_BYTES

    def too_large_message(self, limit: int) -> str:
        return f"The checkout takes a body of at most {limit} bytes."


def checkout_key(request) -> str | None:
    """The checkout's Idempotency-Key as stored (``services.scoped_key``: scoped to the
    customer, hashed). None without the header; a header that is there must be a valid key."""
    sent = request.headers.get(HEADER)
    if sent is None:
        return None
    if not services.IDEMPOTENCY_KEY.fullmatch(sent):
        raise InvalidIdempotencyKey(
            f"The {HEADER} header must be 1 to 255 printable ASCII characters without spaces "
            "(a UUID will do); leave it out to send without one."
        )
    email = request.data.get("email") if isinstance(request.data, dict) else None
    return services.scoped_key(email if isinstance(email, str) else "", sent)  # no email: refused later


class CheckoutApi(APIView):
    parser_classes = [CheckoutJSONParser]
    throttle_classes = [CheckoutRateThrottle]  # per client: 429 with Retry-After beyond SHOP_CHECKOUT_RATE

    class OutputSerializer(serializers.Serializer):
        order_id = serializers.UUIDField()
        status = serializers.CharField(help_text="`placed`: received, being confirmed.")
        status_url = serializers.URLField(help_text="Where to follow the order (GET).")
        trace_id = serializers.CharField()

    class InputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)

        class PaymentSerializer(serializers.Serializer):
            method = serializers.ChoiceField(choices=["card"])
            token = serializers.CharField(max_length=100)

        # max_length is checked before any line is validated; the stubs do not know it yet.
        items = ItemSerializer(many=True, allow_empty=False, max_length=MAX_LINES)  # type: ignore[call-arg]
        email = serializers.EmailField(max_length=254)  # what orders can store
        payment = PaymentSerializer()

        def validate_items(self, items: list[dict]) -> list[dict]:
            """Repeated SKUs as one line each, their quantities added up, then limited:
            two lines of 60 are 120 of that SKU, over the limit like one line of 120."""
            quantities: Counter[str] = Counter()
            for item in items:
                quantities[item["sku"]] += item["quantity"]
            over = sorted(sku for sku, quantity in quantities.items() if quantity > MAX_QUANTITY)
            if over:
                limit = f"At most {MAX_QUANTITY} of each SKU in one checkout, its lines added up"
                raise serializers.ValidationError(f"{limit}: {', '.join(over)}.")
            return [{"sku": sku, "quantity": quantity} for sku, quantity in quantities.items()]

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # Before the body is read: a form post (or no Content-Type) is refused even empty.
        if (
            request.method == "POST"
            and self.get_content_negotiator().select_parser(request, self.get_parsers()) is None
        ):
            raise exceptions.UnsupportedMediaType(request.content_type or "(none)")

    @extend_schema(
        request=InputSerializer,
        parameters=[
            idempotency_key(
                "Makes the checkout safe to retry: the same key and body replay the first answer. "
                "Scoped to the customer (the email).",
                pattern=services.IDEMPOTENCY_KEY.pattern,
                max_length=255,
            ),
            IDEMPOTENT_REPLAYED,
        ],
        responses={
            202: OutputSerializer,
            **refusals(
                {
                    400: "`unknown_sku`, `empty_cart` or `invalid_idempotency_key`.",
                    402: "`payment_declined`.",
                    409: "`insufficient_stock`, `order_failed` (this key's order failed) or "
                    "`idempotency_request_in_progress`.",
                    413: "`request_too_large`: over `SHOP_CHECKOUT_MAX_BYTES`.",
                    422: "`idempotency_key_reused`: this key was sent with another body.",
                    503: "`service_unavailable`: another app could not answer; retry.",
                }
            ),
        },
    )
    @idempotent(IdempotentRequest, key=checkout_key)  # a retry replays the first answer, 202 or refusal
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.checkout(
            items=[services.CheckoutItem(**item) for item in data.validated_data["items"]],
            email=data.validated_data["email"],
            payment_token=data.validated_data["payment"]["token"],
            idempotency_key=checkout_key(request),  # orders keys the order by the same
        )
        body = {
            "order_id": order.order_id,
            "status": order.status,
            "status_url": reverse("shop-api:order-status", args=[order.order_id], request=request),
            "trace_id": order.trace_id,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class OrderStatusApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class EventSerializer(serializers.Serializer):
            kind = serializers.CharField()
            message = serializers.CharField(allow_blank=True)
            trace_id = serializers.CharField(allow_blank=True)
            at = serializers.DateTimeField()

        order_id = serializers.UUIDField()
        status = serializers.CharField(help_text="`pending`, `placed`, `confirmed`, `failing` or `failed`.")
        reason = serializers.CharField(allow_blank=True, help_text="Why it failed; empty otherwise.")
        trace_id = serializers.CharField()
        total_cents = serializers.IntegerField()
        events = EventSerializer(many=True)

    @extend_schema(
        responses={
            200: OutputSerializer,
            **refusals({404: "`order_not_found`.", 503: "`service_unavailable`: retry."}),
        }
    )
    def get(self, request, order_id):
        try:
            order = orders_client.order_get(order_id=order_id)
        except ApplicationError as error:
            public = services.for_customer(error)  # orders unreachable: no internal URL shown
            if public is error:
                raise
            raise public from error
        body = {
            "order_id": order.order_id,
            "status": order.status,
            "reason": order.reason,
            "trace_id": order.trace_id,
            "total_cents": order.total_cents,
            "events": list(order.events),
        }
        return Response(self.OutputSerializer(body).data)
