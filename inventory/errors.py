"""Inventory's error codes (shared by its API and its client)."""

from rest_framework import status

from core.api import ApplicationError


class InsufficientStock(ApplicationError):
    code = "insufficient_stock"
    status_code = status.HTTP_409_CONFLICT


class ReservationNotFound(ApplicationError):
    code = "reservation_not_found"
    status_code = status.HTTP_404_NOT_FOUND


class UnknownSku(ApplicationError):
    code = "unknown_sku"
    status_code = status.HTTP_400_BAD_REQUEST
