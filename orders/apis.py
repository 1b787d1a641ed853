"""Orders' internal REST API: thin views over the services."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import MAX_STORED_INT, IsInternalService
from core.schema import refusals
from orders import services
from orders.models import Order


class OrderOutput(serializers.Serializer):
    class LineOutput(serializers.Serializer):
        sku = serializers.CharField()
        name = serializers.CharField()
        quantity = serializers.IntegerField()
        unit_price_cents = serializers.IntegerField()

    class EventOutput(serializers.Serializer):
        kind = serializers.CharField()
        message = serializers.CharField(allow_blank=True)
        trace_id = serializers.CharField(allow_blank=True)
        # Always with microseconds (isoformat drops a zero fraction): the order page shows
        # events to the millisecond, so a retry schedule reads as one.
        at = serializers.DateTimeField(source="created_at", format="%Y-%m-%dT%H:%M:%S.%fZ")

    order_id = serializers.UUIDField(source="id")
    status = serializers.ChoiceField(choices=Order.Status.choices)
    reason = serializers.CharField(allow_blank=True)
    email = serializers.EmailField()
    customer_tier = serializers.ChoiceField(choices=Order.CustomerTier.choices)
    total_cents = serializers.IntegerField()
    currency = serializers.CharField()
    trace_id = serializers.CharField(allow_blank=True)
    confirmation_code = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    lines = LineOutput(many=True, source="lines.all")
    events = EventOutput(many=True, source="events.all")


_NOT_FOUND = {404: "`order_not_found`."}
_STATE_CONFLICT = {409: "`order_state_conflict`: the order is past this step."}


class OrderCreateApi(APIView):
    permission_classes = [IsInternalService]

    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            name = serializers.CharField(max_length=200)
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_STORED_INT)
            unit_price_cents = serializers.IntegerField(min_value=1, max_value=MAX_STORED_INT)

        email = serializers.EmailField(max_length=254)
        lines = LineSerializer(many=True, allow_empty=False)
        customer_tier = serializers.ChoiceField(
            choices=Order.CustomerTier.choices, default=Order.CustomerTier.STANDARD
        )
        idempotency_key = serializers.CharField(max_length=100, required=False, allow_null=True)

        def validate_lines(self, lines: list[dict]) -> list[dict]:
            """The total is stored too: lines that fit one by one may not add up past it."""
            if sum(line["quantity"] * line["unit_price_cents"] for line in lines) > MAX_STORED_INT:
                raise serializers.ValidationError(f"The order's total is over {MAX_STORED_INT} cents.")
            return lines

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OrderOutput,
            **refusals({422: "`idempotency_key_reused`: this key was used for another order."}),
        },
    )
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

    @extend_schema(responses={200: OrderOutput, **refusals(_NOT_FOUND)})
    def get(self, request, order_id):
        return Response(OrderOutput(services.order_get(order_id=order_id)).data)


class OrderPlaceApi(APIView):
    permission_classes = [IsInternalService]

    @extend_schema(request=None, responses={200: OrderOutput, **refusals({**_NOT_FOUND, **_STATE_CONFLICT})})
    def post(self, request, order_id):
        return Response(OrderOutput(services.order_place(order_id=order_id)).data)


class OrderFailApi(APIView):
    """Fail an order whose checkout could not complete, undoing what was done."""

    permission_classes = [IsInternalService]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OrderOutput,
            **refusals(
                {
                    **_NOT_FOUND,
                    **_STATE_CONFLICT,
                    503: "`service_unavailable`: payments or inventory could not undo their part; retry.",
                }
            ),
        },
    )
    def post(self, request, order_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_fail_checkout(order_id=order_id, reason=data.validated_data["reason"])
        return Response(OrderOutput(order).data)
