"""What every app's REST API shares: one error shape, the JSON parser (with a nesting limit),
the internal-service permission, and how a client is told apart (its address) for rate limits.

Errors leave every API as ``{"code", "message", "extra"}`` with a stable code; each app
declares its own codes in ``<app>/errors.py`` as subclasses of ``ApplicationError``, and
its ``client.py`` maps the codes back to the same classes, so errors round-trip.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, IntegrityError, InterfaceError, ProgrammingError
from django.http import HttpRequest, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

# The largest count or amount the apps store (a PositiveIntegerField's bound on every
# database Django supports): inputs over it are refused, not overflowed into a 500.
MAX_STORED_INT = 2_147_483_647


class ApplicationError(Exception):
    """An anticipated failure with a stable code (declined, out of stock, bad input)."""

    code = "application_error"
    status_code: int = status.HTTP_400_BAD_REQUEST  # int: subclasses pick other statuses

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "extra": self.extra}


class ServiceUnavailable(ApplicationError):
    """Another app could not be reached or failed; the caller may retry."""

    code = "service_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


DATABASE_UNAVAILABLE = "The shop cannot reach its database right now; please try again in a moment."
# Seconds a client is asked to wait after a database failure: a restart or failover takes
# seconds, and a retry sooner would only add to the queue.
DATABASE_RETRY_AFTER_S = 5


class InvalidRequest(ApplicationError):
    code = "invalid_request"


class RequestTooLarge(ApplicationError):
    """A body over the endpoint's size limit: refused before it is parsed."""

    code = "request_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class LimitedJSONParser(JSONParser):
    """Every API's parser (``DEFAULT_PARSER_CLASSES``): JSON nested at most ``max_depth``
    deep, checked after parsing without recursion, a too-deep body a 400 ``invalid_request``
    and not the ``RecursionError`` (a 500) Python's parser raises on a few thousand brackets;
    NaN and Infinity are not JSON. ``max_bytes``, when a subclass gives one, is checked before
    the body is read (413 ``request_too_large``)."""

    max_depth = 10  # the deepest body an API takes today is 3: {"lines": [{"sku": …}]}

    def max_bytes(self) -> int | None:
        return None

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        raw = self._read(stream, (parser_context or {}).get("request"))
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except RecursionError:
            raise self.too_deep() from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if _depth(data, self.max_depth) > self.max_depth:
            raise self.too_deep()
        return data

    def _read(self, stream, request) -> bytes:
        limit = self.max_bytes()
        if limit is None:
            return stream.read()
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        raw = b"" if _over(declared, limit) else stream.read(limit + 1)
        if _over(declared, limit) or len(raw) > limit:
            raise RequestTooLarge(self.too_large_message(limit))
        return raw

    def too_large_message(self, limit: int) -> str:
        return f"This API takes a body of at most {limit} bytes."

    def too_deep(self) -> InvalidRequest:
        return InvalidRequest(f"Invalid request: the body is nested deeper than {self.max_depth} levels.")


def _over(declared: str | None, limit: int) -> bool:
    try:
        return int(declared or 0) > limit
    except ValueError:
        return False  # not a number: the stream's length decides


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _depth(data: object, limit: int) -> int:
    """How deep objects and arrays nest in ``data`` (a scalar is 0), without recursion; the
    walk stops one level past ``limit``."""
    deepest, pending = 0, [(data, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= limit:  # no need to walk further once over the limit
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _first_message(detail) -> str:
    """The first problem in DRF's error detail. A list of lines has an entry per line, ``{}``
    for each valid one: the first line with a problem is named, by its position."""
    if isinstance(detail, dict):
        key, value = next((key, value) for key, value in detail.items() if value)
        return f"{key}: {_first_message(value)}"
    if isinstance(detail, list) and any(isinstance(item, dict) for item in detail):
        index, problem = next((index, item) for index, item in enumerate(detail) if item)
        return f"{index}: {_first_message(problem)}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, RequestDataTooBig):  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE, on request.body
        exc = RequestTooLarge(f"The body is larger than this API takes: {exc}")
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status_code)
    if database_unavailable(exc):
        return _database_unavailable_response(exc)
    if isinstance(exc, exceptions.ParseError):
        body = {"code": "malformed_json", "message": f"The body is not valid JSON: {exc.detail}", "extra": {}}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        body = {
            "code": "invalid_request",
            "message": f"Invalid request: {_first_message(exc.detail)}",
            "extra": {"fields": exc.detail},
        }
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES (this module's parser)
    # when it is imported, so this module must not import it at the top.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)  # sets Retry-After on a 429
    if response is not None and isinstance(exc, exceptions.APIException):
        response.data = {"code": exc.default_code, "message": str(exc.detail), "extra": _extra(exc)}
    return response


def database_unavailable(exc: BaseException) -> bool:
    """A database that did not answer (restarting, unreachable, a statement timed out, a lock
    not granted): the request's transaction is rolled back, so the client may retry. A
    constraint or SQL error is a bug, not an outage, and stays a 500."""
    if isinstance(exc, InterfaceError):  # a connection gone (not a DatabaseError in PEP 249)
        return True
    return isinstance(exc, DatabaseError) and not isinstance(exc, (IntegrityError, ProgrammingError))


def _database_unavailable_response(exc: Exception) -> Response:
    """``503 service_unavailable`` with a ``Retry-After``. The error stays in the trace: the
    failed statement's span holds the exception, the request's span is an error (a 5xx), and
    this log line is stored with the request's span (core imports no OpenTelemetry)."""
    logger.warning("answered 503: the database failed: %s: %s", type(exc).__name__, exc)
    body = ServiceUnavailable(DATABASE_UNAVAILABLE, extra={"retry_after": DATABASE_RETRY_AFTER_S}).as_dict()
    return Response(
        body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    )


def _extra(exc: exceptions.APIException) -> dict:
    wait = getattr(exc, "wait", None)  # a Throttled's (the stubs do not declare it)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        return {"retry_after": math.ceil(wait)}  # seconds, as the Retry-After header
    return {}


def not_found(request, exception=None):
    """404 in the error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        body = {"code": "not_found", "message": f"Nothing at {request.path}.", "extra": {}}
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


class IsInternalService(BasePermission):
    """Internal APIs answer only callers that present the shared service token."""

    message = "This API is internal: send 'Authorization: Bearer <THREADLINE_SERVICE_TOKEN>'."

    def has_permission(self, request, view) -> bool:
        header = request.headers.get("Authorization", "")
        # As bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a
        # 500); "surrogatepass" encodes whatever str the server decoded the header into.
        sent = header.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(sent, f"Bearer {settings.SERVICE_TOKEN}".encode())


def client_address(request: HttpRequest) -> str:
    """The client's address, as every throttle of the project tells clients apart (the
    checkout's and the login lockout's): ``REMOTE_ADDR``, or with ``THREADLINE_PROXY_COUNT``
    proxies in front, the address the outermost of them saw (DRF's ``NUM_PROXIES`` rule)."""
    return BaseThrottle().get_ident(Request(request))
