"""Payments' error codes (shared by its API and its client)."""

from rest_framework import status

from core.api import ApplicationError


class PaymentDeclined(ApplicationError):
    code = "payment_declined"
    status_code = status.HTTP_402_PAYMENT_REQUIRED


class PaymentNotFound(ApplicationError):
    code = "payment_not_found"
    status_code = status.HTTP_404_NOT_FOUND


class PaymentStateConflict(ApplicationError):
    code = "payment_state_conflict"
    status_code = status.HTTP_409_CONFLICT
