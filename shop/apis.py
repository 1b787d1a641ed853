"""The shop's public API: products, checkout, order status. Thin: validate, call, serialize."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from core.idempotency import idempotent
from orders import client as orders_client
from shop import selectors, services
from shop.models import IdempotentRequest


class ProductListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        sku = serializers.CharField()
        name = serializers.CharField()
        price_cents = serializers.IntegerField()
        available = serializers.IntegerField()

    def get(self, request):
        return Response(self.OutputSerializer(selectors.product_listings(), many=True).data)


class CheckoutApi(APIView):
    class InputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            quantity = serializers.IntegerField(min_value=1, max_value=100)

        class PaymentSerializer(serializers.Serializer):
            method = serializers.ChoiceField(choices=["card"])
            token = serializers.CharField(max_length=100)

        items = ItemSerializer(many=True, allow_empty=False)
        email = serializers.EmailField(max_length=254)  # what orders can store
        payment = PaymentSerializer()

    @idempotent(IdempotentRequest)  # a retry replays the first answer, 202 or refusal
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.checkout(
            items=[services.CheckoutItem(**item) for item in data.validated_data["items"]],
            email=data.validated_data["email"],
            payment_token=data.validated_data["payment"]["token"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        body = {
            "order_id": order.order_id,
            "status": order.status,
            "status_url": reverse("shop-api:order-status", args=[order.order_id], request=request),
            "trace_id": order.trace_id,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class OrderStatusApi(APIView):
    def get(self, request, order_id):
        order = orders_client.order_get(order_id=order_id)
        body = {
            "order_id": order.order_id,
            "status": order.status,
            "reason": order.reason,
            "trace_id": order.trace_id,
            "total_cents": order.total_cents,
            "events": list(order.events),
        }
        return Response(body)
