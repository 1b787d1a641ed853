"""Payments in the admin (read-only: money moves only through the services)."""

from django.contrib import admin

from payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("order_id", "amount_cents", "currency", "status", "decline_reason", "created_at")
    list_filter = ("status",)
    search_fields = ("order_id", "gateway_reference")
    readonly_fields = [field.name for field in Payment._meta.fields]

    def has_add_permission(self, request):
        return False
