"""The storefront's middleware.

``StorefrontLocaleMiddleware``: the customer's language (``Accept-Language``, or Django's
language cookie) decides how the storefront's pages write prices; their words stay English.

``DatabaseUnavailableMiddleware``: pages that fail closed when the database does not
answer: a view of the storefront, the admin or the trace viewer that meets a database outage
(restarting, unreachable, a statement or a lock timed out) answers ``503`` with
``Retry-After`` and a page that says to try again, as the APIs do (``core.api``), instead of
Django's bare 500.

The page is rendered without the request's context processors: the cart count reads the
session, which lives in the database that just failed. A constraint or SQL error is a bug,
not an outage, and stays a 500.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.cache import patch_vary_headers

from core.api import DATABASE_RETRY_AFTER_S, database_unavailable
from instrumentation.context import mark_error
from shop.formatting import CUSTOMER_LOCALE

logger = logging.getLogger(__name__)
TEMPLATE = "shop/unavailable.html"
STOREFRONT = "shop"  # the URL namespace of the storefront's pages (shop/urls.py)


class StorefrontLocaleMiddleware:
    """The language from the ``LANGUAGES`` setting that the request prefers (Django's own
    choice: the language cookie, then ``Accept-Language``), else ``LANGUAGE_CODE``, as the
    locale of the storefront's prices (``shop.formatting.CUSTOMER_LOCALE``) for the request.

    Only the storefront's pages, chosen once the URL is resolved (``process_view``): the
    admin, the APIs and the trace viewer write numbers one way whoever asks (the viewer
    writes them into SVG coordinates, where a German decimal comma would break the
    drawing). No translation is activated: the shop's words are English, and Django's own
    (form errors) with them. The locale is given up after the response, so a server
    thread's next request does not inherit it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            response = self.get_response(request)
        finally:
            token = getattr(request, "_customer_locale_token", None)
            if token is not None:
                CUSTOMER_LOCALE.reset(token)
        if token is not None:  # a storefront page: its prices vary with the language asked for
            patch_vary_headers(response, ("Accept-Language",))
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        if _storefront(request):
            locale = translation.get_language_from_request(request)
            request._customer_locale_token = CUSTOMER_LOCALE.set(locale)  # type: ignore[attr-defined]


def _storefront(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.namespace == STOREFRONT


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
