"""Fault flags in the admin, so staff can inject faults without a terminal."""

from django.contrib import admin

from faults.models import FaultFlag


@admin.register(FaultFlag)
class FaultFlagAdmin(admin.ModelAdmin):
    list_display = ("name", "value", "updated_at")
    list_editable = ("value",)
