"""Payments' internal REST API: thin views over the services."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IsInternalService
from core.idempotency import idempotent
from payments import selectors, services
from payments.models import IdempotentRequest


class PaymentOutput(serializers.Serializer):
    order_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()


class PaymentAuthorizeApi(APIView):
    permission_classes = [IsInternalService]

    class InputSerializer(serializers.Serializer):
        order_id = serializers.UUIDField()
        amount_cents = serializers.IntegerField(min_value=1)
        token = serializers.CharField(max_length=100)

    @idempotent(IdempotentRequest)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = services.payment_authorize(**data.validated_data)
        return Response(PaymentOutput(payment).data, status=status.HTTP_201_CREATED)


class PaymentCaptureApi(APIView):
    permission_classes = [IsInternalService]

    @idempotent(IdempotentRequest)
    def post(self, request, order_id):
        return Response(PaymentOutput(services.payment_capture(order_id=order_id)).data)


class PaymentCancelApi(APIView):
    """Void an authorisation or refund a capture, whichever undoes the order's payment;
    an order not (yet) paid answers status ``cancelled``, and stays unpayable."""

    permission_classes = [IsInternalService]

    @idempotent(IdempotentRequest)
    def post(self, request, order_id):
        return Response(PaymentOutput(services.payment_cancel(order_id=order_id)).data)


class PaymentSummaryApi(APIView):
    """Counts and sums (cents) per payment status; ``?order_id=…`` (repeatable, at most
    100) narrows it to those orders. The simulator reads it to check that money balances."""

    permission_classes = [IsInternalService]

    class FilterSerializer(serializers.Serializer):
        order_id = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=100)

    class TotalSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        amount_cents = serializers.IntegerField()

    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        summary = selectors.payment_summary(order_ids=filters.validated_data.get("order_id"))
        return Response({name: self.TotalSerializer(total).data for name, total in summary.items()})
