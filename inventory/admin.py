"""Stock and reservations in the admin."""

from django.contrib import admin

from inventory.models import Reservation, ReservationLine, StockItem


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    list_display = ("sku", "on_hand", "reserved", "sold", "available")
    search_fields = ("sku",)


class ReservationLineInline(admin.TabularInline):
    model = ReservationLine
    extra = 0
    readonly_fields = ("sku", "quantity")
    can_delete = False


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("order_id", "status", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("order_id",)
    readonly_fields = ("order_id", "status", "created_at", "updated_at")
    inlines = [ReservationLineInline]
