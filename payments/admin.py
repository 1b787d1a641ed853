"""Payments in the admin, read-only: money moves only through the payments services, and a
payment row records what the gateway did."""

from django.contrib import admin

from core.readonly_admin import ReadOnlyAdmin
from payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "amount_cents", "currency", "status", "decline_reason", "created_at")
    list_filter = ("status",)
    search_fields = ("order_id", "gateway_reference")
    readonly_fields = [field.name for field in Payment._meta.fields]
