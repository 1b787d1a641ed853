"""The public edge: a request from outside starts its own trace, whatever trace context
it carries.

Anyone can send ``traceparent``, ``tracestate`` and ``baggage``. Honoured on a public
route, they let a client attach its requests to another customer's trace (the trace id
is shown in the order status), hide its own (an unsampled flag) or force one, and set
``customer.tier`` or ``order.id`` on every span through baggage. So the Django
instrumentation's extraction is wrapped (``EdgePropagator``, the global propagator): for
a request, the incoming context is honoured only on the internal APIs
(``TELEMETRY_PROPAGATING_PATHS``) and only from a caller that presents the service token,
which is how the apps call each other so that one order stays one trace. Any other
request starts a new root with no baggage, and the caller's span context, if valid, is
kept as a span link on the server span (``CallerLink``), so a gateway's trace can still
be followed. ``TELEMETRY_TRUST_INCOMING_CONTEXT`` turns this off behind a gateway that
sets the context itself.

Carriers that are not a request (Celery task headers, a stored outbox context) are
passed to the wrapped propagator untouched.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import SpanKind

# Where the caller's span context waits for the server span that will link to it: a key
# of its own, so it is never taken for the parent.
_CALLER_KEY = otel_context.create_key("threadline-edge-caller")
# On the link, so a reader knows the linked context was the caller's, not a cause.
LINK_ATTRIBUTES = {"threadline.link": "untrusted-caller"}


class EdgePropagator(TextMapPropagator):
    """``inner`` (the configured propagators), except that a request's context is read
    only where ``trusts`` says so; elsewhere the context comes back without the caller's
    span or baggage, the caller's span context set aside for ``CallerLink``."""

    def __init__(self, inner: TextMapPropagator, trusts: Callable[[str, str], bool]) -> None:
        self.inner = inner
        self.trusts = trusts  # (path, Authorization header) -> whether to join the caller's trace

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] = default_getter
    ) -> Context:
        path = request_path(carrier)
        if path is None:
            return self.inner.extract(carrier, context, getter)
        authorization = ",".join(getter.get(carrier, "authorization") or ())
        if self.trusts(path, authorization):
            return self.inner.extract(carrier, context, getter)
        # Read the caller's context on its own (an empty context, so no current span of
        # ours is taken for it), only to keep it as a link.
        caller = trace.get_current_span(self.inner.extract(carrier, Context(), getter)).get_span_context()
        base = context if context is not None else otel_context.get_current()
        return otel_context.set_value(_CALLER_KEY, caller, base) if caller.is_valid else base

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        self.inner.inject(carrier, context, setter)

    @property
    def fields(self) -> set[str]:
        return self.inner.fields


def request_path(carrier: Any) -> str | None:
    """The path of the request a carrier describes (a WSGI environ, as Django's
    ``request.META``, or an ASGI scope), or None for any other carrier."""
    if not isinstance(carrier, Mapping):
        return None
    if "PATH_INFO" in carrier and "REQUEST_METHOD" in carrier:
        return str(carrier["PATH_INFO"])
    if carrier.get("type") in {"http", "websocket"} and "path" in carrier:
        return str(carrier["path"])
    return None


def joins_caller_trace(
    path: str, authorization: str, *, trust_all: bool, propagating_paths: Iterable[str], service_token: str
) -> bool:
    """Whether a request joins its caller's trace: always with ``trust_all`` (a trusted
    gateway in front); else only on a propagating path, with the service token."""
    if trust_all:
        return True
    prefixes = tuple(prefix for prefix in propagating_paths if prefix)
    if not service_token or not prefixes or not path.startswith(prefixes):
        return False
    # As bytes, as core.api compares it: a non-ASCII header must not raise.
    sent = authorization.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(sent, f"Bearer {service_token}".encode())


def settings_policy(path: str, authorization: str) -> bool:
    """``joins_caller_trace`` with the settings as they are now (read per request, so a
    test's override applies to the process's one propagator)."""
    from django.conf import settings

    return joins_caller_trace(
        path,
        authorization,
        trust_all=settings.TELEMETRY_TRUST_INCOMING_CONTEXT,
        propagating_paths=settings.TELEMETRY_PROPAGATING_PATHS,
        service_token=settings.SERVICE_TOKEN,
    )


def guard_incoming_context() -> None:
    """Wrap the global propagator in an ``EdgePropagator`` with the settings' policy:
    call before the Django instrumentation, which extracts through it."""
    propagate.set_global_textmap(EdgePropagator(propagate.get_global_textmap(), settings_policy))


class CallerLink(SpanProcessor):
    """Links a server span that starts a trace to the caller's context ``EdgePropagator``
    set aside. Added as the span starts, so the head sampler does not see it; it decides
    as for any new root, which is the point."""

    def on_start(self, span, parent_context: Context | None = None) -> None:
        if span.kind != SpanKind.SERVER:
            return
        caller = otel_context.get_value(_CALLER_KEY, parent_context)
        parent = trace.get_current_span(parent_context).get_span_context()
        if isinstance(caller, trace.SpanContext) and not parent.is_valid:
            span.add_link(caller, LINK_ATTRIBUTES)
