"""Payments' internal REST API: thin views over the services."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import IsInternalService
from payments import services


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

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = services.payment_authorize(**data.validated_data)
        return Response(PaymentOutput(payment).data, status=status.HTTP_201_CREATED)


class PaymentCaptureApi(APIView):
    permission_classes = [IsInternalService]

    def post(self, request, order_id):
        return Response(PaymentOutput(services.payment_capture(order_id=order_id)).data)


class PaymentCancelApi(APIView):
    """Void an authorisation or refund a capture, whichever undoes the order's payment."""

    permission_classes = [IsInternalService]

    def post(self, request, order_id):
        payment = services.payment_cancel(order_id=order_id)
        if payment is None:
            return Response({"order_id": str(order_id), "amount_cents": 0, "currency": "", "status": "none"})
        return Response(PaymentOutput(payment).data)
