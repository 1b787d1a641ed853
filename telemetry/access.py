"""Who may use the back office: the permissions the trace viewer and the dashboard ask for,
and the read-only ``support`` group (README "Who may call what").

Every page under ``/traces/`` is for staff holding ``telemetry.view_span``; loading an OTLP
file writes spans and also needs ``telemetry.add_span``. Alert rules and fault flags are
edited in the admin, which asks for their own change permissions. Superusers hold them all.

The support group may look at orders, payments, stock, customers, traces, alert rules and
fault flags, and change nothing: it holds view permissions only. Its members are staff
users put in the group. The group is made (or completed) after each ``migrate`` by a
post_migrate hook rather than by a data migration: Django creates the permissions
themselves in its own post_migrate hook, after every migration has run, so on a fresh
database a migration would find none to grant; and a migration would have to depend on the
latest migration of six apps. A permission an administrator adds to the group stays.
"""

from __future__ import annotations

from collections.abc import Callable

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS, router

VIEW_TRACES = "telemetry.view_span"
LOAD_TRACES = "telemetry.add_span"

SUPPORT_GROUP = "support"
# The models whose rows the support role sees, by app label: view permissions, nothing else.
SUPPORT_VIEWS: dict[str, tuple[str, ...]] = {
    "orders": ("order", "orderline", "orderevent", "outboxmessage"),
    "payments": ("payment",),
    "inventory": ("stockitem", "reservation", "reservationline"),
    "shop": ("product", "customer"),
    "telemetry": ("span", "alertrule", "alertstate"),
    "faults": ("faultflag",),
}


def staff_with_permission(permission: str) -> Callable:
    """A view for active staff holding ``permission``: anyone else is sent to the admin
    login, a staff member without it gets 403."""

    def decorate(view: Callable) -> Callable:
        return staff_member_required(permission_required(permission, raise_exception=True)(view))

    return decorate


def ensure_support_group(
    sender: AppConfig, *, using: str = DEFAULT_DB_ALIAS, apps=global_apps, verbosity: int = 1, **kwargs
) -> None:
    """post_migrate: the support group exists and holds the view permissions above."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    if not router.allow_migrate_model(using, Group):
        return  # the trace store's database holds no users
    for label in SUPPORT_VIEWS:
        # This hook may run before Django's own has made a later app's permissions.
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps)
    group, created = Group.objects.using(using).get_or_create(name=SUPPORT_GROUP)
    for label, models in SUPPORT_VIEWS.items():
        codenames = [f"view_{model}" for model in models]
        group.permissions.add(
            *Permission.objects.using(using).filter(content_type__app_label=label, codename__in=codenames)
        )
    if created and verbosity >= 1:
        print(f"Created the read-only '{SUPPORT_GROUP}' group (README \"Who may call what\").")
