"""Orders' error codes (shared by its API and its client)."""

from rest_framework import status

from config.api import ApplicationError


class OrderNotFound(ApplicationError):
    code = "order_not_found"
    status_code = status.HTTP_404_NOT_FOUND


class OrderStateConflict(ApplicationError):
    code = "order_state_conflict"
    status_code = status.HTTP_409_CONFLICT


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
