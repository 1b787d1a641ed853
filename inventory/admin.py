"""Stock and reservations in the admin. Stock is configuration: staff set what is on hand;
what is reserved and sold is counted by the reservations, so it is shown, not edited.
Reservations record what happened to an order's stock and are read-only."""

from django.contrib import admin

from core.readonly_admin import ReadOnlyAdmin, ReadOnlyTabularInline
from inventory.models import Reservation, ReservationLine, StockItem


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    list_display = ("sku", "on_hand", "reserved", "sold", "available")
    search_fields = ("sku",)
    readonly_fields = ("reserved", "sold")


class ReservationLineInline(ReadOnlyTabularInline):
    model = ReservationLine
    readonly_fields = ("sku", "quantity")


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "status", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("order_id",)
    readonly_fields = ("order_id", "status", "expires_at", "created_at", "updated_at")
    inlines = [ReservationLineInline]
