"""Orders' error codes (shared by its API and its client)."""

from rest_framework import status

from core.api import ApplicationError
from core.idempotency import IdempotencyKeyReused  # one class for the code, re-exported


class OrderNotFound(ApplicationError):
    code = "order_not_found"
    status_code = status.HTTP_404_NOT_FOUND


class OrderStateConflict(ApplicationError):
    code = "order_state_conflict"
    status_code = status.HTTP_409_CONFLICT


__all__ = ["IdempotencyKeyReused", "OrderNotFound", "OrderStateConflict"]
