"""The Content-Security-Policy header on every response: the storefront, the trace viewer,
the admin and the APIs. Scripts come from this site only (the viewer's scripts are static
files, none inline), so an injected ``<script>`` or event handler does not run.

Styles allow inline ``style`` attributes and blocks: the viewer positions and colours its
timeline bars and service chips from span data, inline. That is the one allowance, and the
weaker one (CSS cannot run code)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Sets the policy unless a view set one of its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
