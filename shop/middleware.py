"""Pages that fail closed when the database does not answer: a view of the storefront, the
admin or the trace viewer that meets a database outage (restarting, unreachable, a
statement or a lock timed out) answers ``503`` with ``Retry-After`` and a page that says to
try again, as the APIs do (``core.api``), instead of Django's bare 500.

The page is rendered without the request's context processors: the cart count reads the
session, which lives in the database that just failed. A constraint or SQL error is a bug,
not an outage, and stays a 500.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from core.api import DATABASE_RETRY_AFTER_S, database_unavailable
from instrumentation.context import mark_error

logger = logging.getLogger(__name__)
TEMPLATE = "shop/unavailable.html"


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not database_unavailable(exc):
            return None
        # The request's span keeps the exception: answering here means the instrumentor's
        # own exception hook (further out) never sees it.
        mark_error(exc)
        logger.warning(
            "answered 503 to %s: the database failed: %s: %s", request.path, type(exc).__name__, exc
        )
        page = render_to_string(TEMPLATE, {"retry_after": DATABASE_RETRY_AFTER_S})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        response["Cache-Control"] = "no-store"
        return response
