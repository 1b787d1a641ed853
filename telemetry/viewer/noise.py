"""The search's noise filter: traces an engineer hunting a failure rarely wants among the
results, named by their root span: admin pages, the order page's and the order API's status
polls (the order page refreshes itself every 2 s while the order settles; API clients poll
the shop's and the orders' status endpoints) and the runs of
beat's periodic tasks. Hidden by default; each user's choice is kept in their session.

A hidden trace is only left out of the list: it stays stored, searchable with the filter
off, and reachable by its id."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from instrumentation.names import RUN_PREFIX, server_span

SESSION_KEY = "telemetry.viewer.hide_noise"
PARAMETER = "noise"  # ?noise=hide or ?noise=show: sets the choice (and saves it)
HIDE, SHOW = "hide", "show"

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ADMIN_ROUTE_PREFIX = "admin/"
# Routes (``http.route``) whose reads are polls; tests/telemetry/viewer/test_noise.py checks
# they are still in the URLconf, so a renamed route breaks a test instead of the filter.
POLL_ROUTES = ("orders/<uuid:order_id>/", "api/shop/orders/<uuid:order_id>/", "api/orders/<uuid:order_id>/")
POLL_METHODS = ("GET", "HEAD")
APPLY_PREFIX = "apply_async/"  # the Celery instrumentor's name for sending a task


@dataclass(frozen=True)
class Noise:
    """Root span names to leave out: exact names, and prefixes."""

    root_names: tuple[str, ...]
    root_prefixes: tuple[str, ...]


def noise() -> Noise:
    """The noise as configured now: the beat tasks come from ``CELERY_BEAT_SCHEDULE``."""
    beat_tasks = sorted({entry["task"] for entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).values()})
    names = [server_span(method, route) for route in POLL_ROUTES for method in POLL_METHODS]
    names += [prefix + task for task in beat_tasks for prefix in (RUN_PREFIX, APPLY_PREFIX)]
    prefixes = [server_span(method, ADMIN_ROUTE_PREFIX) for method in METHODS]
    return Noise(root_names=tuple(names), root_prefixes=tuple(prefixes))


def is_noise(root_name: str, rules: Noise | None = None) -> bool:
    rules = rules or noise()
    return root_name in rules.root_names or root_name.startswith(rules.root_prefixes)


def hide_noise(request: HttpRequest) -> bool:
    """Whether this request's search hides noise: ``?noise=`` when given (and then saved in
    the session for the next searches), else the session's choice, else hidden."""
    asked = request.GET.get(PARAMETER)
    if asked in (HIDE, SHOW):
        hidden = asked == HIDE
        if hasattr(request, "session") and request.session.get(SESSION_KEY) != hidden:
            request.session[SESSION_KEY] = hidden
        return hidden
    if hasattr(request, "session"):
        return bool(request.session.get(SESSION_KEY, True))
    return True
