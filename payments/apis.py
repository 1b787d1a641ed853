"""Payments' internal REST API: thin views over the services."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import MAX_STORED_INT, IsInternalService
from core.idempotency import KEY_MAX_LENGTH, idempotent
from core.schema import IDEMPOTENT_REPLAYED, idempotency_key, refusals
from payments import selectors, services
from payments.models import IdempotentRequest, Payment


class PaymentOutput(serializers.Serializer):
    order_id = serializers.UUIDField()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Payment.Status.choices)


class PaymentTotal(serializers.Serializer):
    count = serializers.IntegerField()
    amount_cents = serializers.IntegerField()


# One total per payment status, every status present (zeros included).
PaymentSummaryOutput = type(
    "PaymentSummaryOutput",
    (serializers.Serializer,),
    {name: PaymentTotal() for name in Payment.Status.values},
)


# The order id is the natural key; the header makes a retried call replay its answer.
IDEMPOTENCY = [
    idempotency_key(
        "The same key and body replay the first answer; another body is 422.", max_length=KEY_MAX_LENGTH
    ),
    IDEMPOTENT_REPLAYED,
]
_KEY_REFUSALS = {
    409: "`payment_state_conflict`, or `idempotency_request_in_progress` (same key, still running).",
    422: "`idempotency_key_reused`: this key was sent with another body.",
}


class PaymentAuthorizeApi(APIView):
    permission_classes = [IsInternalService]

    class InputSerializer(serializers.Serializer):
        order_id = serializers.UUIDField()
        amount_cents = serializers.IntegerField(min_value=1, max_value=MAX_STORED_INT)
        token = serializers.CharField(max_length=100)

    @extend_schema(
        request=InputSerializer,
        parameters=IDEMPOTENCY,
        responses={201: PaymentOutput, **refusals({402: "`payment_declined`.", **_KEY_REFUSALS})},
    )
    @idempotent(IdempotentRequest)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = services.payment_authorize(**data.validated_data)
        return Response(PaymentOutput(payment).data, status=status.HTTP_201_CREATED)


class PaymentCaptureApi(APIView):
    permission_classes = [IsInternalService]

    @extend_schema(
        request=None,
        parameters=IDEMPOTENCY,
        responses={200: PaymentOutput, **refusals({404: "`payment_not_found`.", **_KEY_REFUSALS})},
    )
    @idempotent(IdempotentRequest)
    def post(self, request, order_id):
        return Response(PaymentOutput(services.payment_capture(order_id=order_id)).data)


class PaymentCancelApi(APIView):
    """Void an authorisation or refund a capture, whichever undoes the order's payment;
    an order not (yet) paid answers status ``cancelled``, and stays unpayable."""

    permission_classes = [IsInternalService]

    @extend_schema(
        request=None, parameters=IDEMPOTENCY, responses={200: PaymentOutput, **refusals(_KEY_REFUSALS)}
    )
    @idempotent(IdempotentRequest)
    def post(self, request, order_id):
        return Response(PaymentOutput(services.payment_cancel(order_id=order_id)).data)


class PaymentSummaryApi(APIView):
    """Counts and sums (cents) per payment status; ``?order_id=…`` (repeatable, at most
    100) narrows it to those orders. The simulator reads it to check that money balances."""

    permission_classes = [IsInternalService]

    class FilterSerializer(serializers.Serializer):
        order_id = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=100)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "order_id",
                OpenApiTypes.UUID,
                many=True,
                description="Only these orders (repeatable, at most 100).",
            )
        ],
        responses={
            200: PaymentSummaryOutput,
            **refusals({400: "`invalid_request`: an `order_id` that is not a UUID, or more than 100."}),
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        summary = selectors.payment_summary(order_ids=filters.validated_data.get("order_id"))
        return Response(PaymentSummaryOutput(summary).data)
