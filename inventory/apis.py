"""Inventory's internal REST API: thin views over the services."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import MAX_STORED_INT, IsInternalService
from core.schema import refusals
from faults.views import InjectedLatencyMixin, InjectedUnavailableMixin
from instrumentation import attributes
from instrumentation.context import current_span
from inventory import selectors, services


class ReservationOutput(serializers.Serializer):
    class LineOutput(serializers.Serializer):
        sku = serializers.CharField()
        quantity = serializers.IntegerField()

    order_id = serializers.UUIDField()
    status = serializers.CharField(help_text="`held`, `committed` or `released`; `none` if never reserved.")
    lines = LineOutput(many=True, source="lines.all")


_NOT_FOUND = {404: "`reservation_not_found`: none for this order, or already released."}


class StockListApi(APIView):
    permission_classes = [IsInternalService]

    class OutputSerializer(serializers.Serializer):
        sku = serializers.CharField()
        on_hand = serializers.IntegerField()
        reserved = serializers.IntegerField()
        sold = serializers.IntegerField()
        available = serializers.IntegerField()

    @extend_schema(
        parameters=[OpenApiParameter("sku", str, many=True, description="Only these SKUs (repeatable).")],
        responses=OutputSerializer(many=True),
    )
    def get(self, request):
        items = selectors.stock_levels(skus=request.query_params.getlist("sku") or None)
        return Response(self.OutputSerializer(items, many=True).data)


class ReservationCreateApi(InjectedUnavailableMixin, InjectedLatencyMixin, APIView):
    permission_classes = [IsInternalService]
    latency_fault = "inventory_latency"  # a slow service
    unavailable_fault = "inventory_unavailable"  # an overloaded one

    class InputSerializer(serializers.Serializer):
        class LineSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            quantity = serializers.IntegerField(min_value=1, max_value=MAX_STORED_INT)

        order_id = serializers.UUIDField()
        items = LineSerializer(many=True, allow_empty=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ReservationOutput,
            **refusals(
                {
                    400: "`unknown_sku`: no stock is kept for a SKU.",
                    409: "`insufficient_stock` (`extra.skus` lists them).",
                }
            ),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reservation = services.reservation_create(
            order_id=data.validated_data["order_id"],
            items=[(line["sku"], line["quantity"]) for line in data.validated_data["items"]],
        )
        return Response(ReservationOutput(reservation).data, status=status.HTTP_201_CREATED)


class ReservationCommitApi(APIView):
    permission_classes = [IsInternalService]

    @extend_schema(request=None, responses={200: ReservationOutput, **refusals(_NOT_FOUND)})
    def post(self, request, order_id):
        return Response(ReservationOutput(services.reservation_commit(order_id=order_id)).data)


class ReservationExpireApi(APIView):
    """Release every held reservation past its expiry (called by orders.reconcile)."""

    permission_classes = [IsInternalService]

    class OutputSerializer(serializers.Serializer):
        released = serializers.IntegerField(help_text="How many reservations were released.")

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request):
        return Response({"released": services.reservations_expire()})


class ReservationReleaseApi(APIView):
    permission_classes = [IsInternalService]

    @extend_schema(request=None, responses=ReservationOutput)
    def post(self, request, order_id):
        reservation = services.reservation_release(order_id=order_id)
        # What the release did, on the request's span as on the release task's run: a trace
        # then says "stock released" only when something was.
        current_span().set_attribute(attributes.UNDO_OUTCOME, reservation.status if reservation else "none")
        if reservation is None:
            return Response({"order_id": str(order_id), "status": "none", "lines": []})
        return Response(ReservationOutput(reservation).data)
