"""The shop's error codes."""

from rest_framework import status

from core.api import ApplicationError


class UnknownProduct(ApplicationError):
    code = "unknown_sku"
    status_code = status.HTTP_400_BAD_REQUEST


class EmptyCart(ApplicationError):
    code = "empty_cart"
    status_code = status.HTTP_400_BAD_REQUEST


class CheckoutFailed(ApplicationError):
    """The same checkout (Idempotency-Key) was tried before and its order failed."""

    code = "order_failed"
    status_code = status.HTTP_409_CONFLICT


class InvalidIdempotencyKey(ApplicationError):
    """An Idempotency-Key header the checkout cannot take (empty, not printable ASCII, too long)."""

    code = "invalid_idempotency_key"
    status_code = status.HTTP_400_BAD_REQUEST
