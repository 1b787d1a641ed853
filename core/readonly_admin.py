"""Admin classes for records of what happened (orders, payments, reservations, the outbox):
staff may look, nobody adds, changes or deletes them in the admin, superusers included.
Such rows change only through their app's services, which keep the money, the stock and
the order's status in agreement; an edit by hand would break that silently.

Without the delete permission the admin also drops its bulk "delete selected" action.
"""

from __future__ import annotations

from django.contrib import admin


class NoWrites:
    """Refuses add, change and delete, whatever the user's permissions."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(NoWrites, admin.ModelAdmin):
    """A model admin that shows its rows and offers no add, save or delete."""


class ReadOnlyTabularInline(NoWrites, admin.TabularInline):
    """The same for the rows shown inside a record's page (its lines, its events)."""

    extra = 0
