"""A workaround for a known bug of the OpenTelemetry Django instrumentor, until its fix is
released (opentelemetry-python-contrib #3237).

Django's ``WSGIRequest`` replaces ``environ["PATH_INFO"]`` with the decoded path, a str of
any code point; the WSGI instrumentation builds the span's URL with
``wsgiref.util.request_uri``, which encodes that value as Latin-1, as PEP 3333 says environ
strings are. A path with a character past U+00FF (``/%E2%82%AC/``) then raises
``UnicodeEncodeError`` in the middleware, before any view: a 500 for any such URL. Servers
that send the raw ``RAW_URI`` (gunicorn) take another branch; Django's runserver and test
live server do not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.instrumentation.django.middleware import otel_middleware

_COLLECTOR = "wsgi_collect_request_attributes"


def collect_with_latin1_path(collect: Callable[..., Any]) -> Callable[..., Any]:
    """``collect`` given the environ with its path back in PEP 3333 form (UTF-8 bytes as
    Latin-1 characters), as the server gave it; the request's own environ is not changed."""

    def collect_request_attributes(environ: dict, *args: Any, **kwargs: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.isascii():
            environ = {**environ, "PATH_INFO": path.encode("utf-8", "surrogateescape").decode("latin-1")}
        return collect(environ, *args, **kwargs)

    collect_request_attributes.wrapped = collect  # type: ignore[attr-defined]
    return collect_request_attributes


def patch_django_middleware() -> None:
    """Idempotent: instrumenting twice wraps once."""
    # By name: the middleware module imports the function under this alias, not re-exported.
    current = getattr(otel_middleware, _COLLECTOR)
    if not hasattr(current, "wrapped"):
        setattr(otel_middleware, _COLLECTOR, collect_with_latin1_path(current))
