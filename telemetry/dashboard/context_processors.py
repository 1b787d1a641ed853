"""Puts ``firing_alerts`` (the states of rules firing now) on every page a staff member who
may see alert rules views, for the alert banner. Lazy: a page that never shows the banner
queries nothing."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.utils.functional import SimpleLazyObject

from telemetry.dashboard.alerts import alerts_firing

logger = logging.getLogger(__name__)


def firing_alerts(request) -> dict:
    return {"firing_alerts": SimpleLazyObject(lambda: _for_staff(request))}


def _for_staff(request) -> list:
    user = getattr(request, "user", None)
    # The banner names rules and links traces: for those who may see them in the admin.
    if not (user and user.is_staff and user.has_perm("telemetry.view_alertrule")):
        return []
    try:
        return alerts_firing()
    except DatabaseError:  # a store not migrated yet must not take the admin down
        logger.exception("could not read the alert states")
        return []
