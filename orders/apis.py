"""Orders' internal REST API: thin views over the services."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IsInternalService
from orders import services
from orders.models import Order


class OrderOutput(serializers.Serializer):
    order_id = serializers.UUIDField(source="id")
    status = serializers.CharField()
    reason = serializers.CharField()
    email = serializers.EmailField()
    customer_tier = serializers.CharField()
    total_cents = serializers.IntegerField()
    currency = serializers.CharField()
    trace_id = serializers.CharField()
    confirmation_code = serializers.CharField()
    created_at = serializers.DateTimeField()
    lines = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    def get_lines(self, order) -> list[dict]:
        return [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
            }
            for line in order.lines.all()
        ]

    def get_events(self, order) -> list[dict]:
        return [
            {
                "kind": event.kind,
                "message": event.message,
                "trace_id": event.trace_id,
                "at": event.created_at.isoformat(),
            }
            for event in order.events.all()
        ]


class OrderCreateApi(APIView):
    permission_classes = [IsInternalService]

    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            name = serializers.CharField(max_length=200)
            quantity = serializers.IntegerField(min_value=1)
            unit_price_cents = serializers.IntegerField(min_value=1)

        email = serializers.EmailField(max_length=254)
        lines = LineSerializer(many=True, allow_empty=False)
        customer_tier = serializers.ChoiceField(
            choices=Order.CustomerTier.choices, default=Order.CustomerTier.STANDARD
        )
        idempotency_key = serializers.CharField(max_length=100, required=False, allow_null=True)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_create(
            email=data.validated_data["email"],
            lines=[services.LineInput(**line) for line in data.validated_data["lines"]],
            customer_tier=data.validated_data["customer_tier"],
            idempotency_key=data.validated_data.get("idempotency_key"),
        )
        return Response(OrderOutput(order).data, status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    permission_classes = [IsInternalService]

    def get(self, request, order_id):
        return Response(OrderOutput(services.order_get(order_id=order_id)).data)


class OrderPlaceApi(APIView):
    permission_classes = [IsInternalService]

    def post(self, request, order_id):
        return Response(OrderOutput(services.order_place(order_id=order_id)).data)


class OrderFailApi(APIView):
    """Fail an order whose checkout could not complete, undoing what was done."""

    permission_classes = [IsInternalService]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    def post(self, request, order_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_fail_checkout(order_id=order_id, reason=data.validated_data["reason"])
        return Response(OrderOutput(order).data)
