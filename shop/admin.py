"""The catalogue and the customers (their tier) in the admin."""

from django.contrib import admin

from shop.models import Customer, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price_cents", "active")
    list_filter = ("active",)
    search_fields = ("sku", "name")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Who is premium, free or standard: the tier each new order of theirs records."""

    list_display = ("email", "tier", "created_at")
    list_filter = ("tier",)
    search_fields = ("email",)
    readonly_fields = ("created_at",)
