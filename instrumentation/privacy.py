"""No personal data in telemetry by default: what spans and log records may carry, applied
before any exporter (the span store's, the metric rows', OTLP's) sees them.

- Span attributes pass an **allow-list** (``ALLOWED_ATTRIBUTES`` plus
  ``TELEMETRY_EXTRA_ATTRIBUTES``): a key not on it is dropped, key and value, because a key
  can itself be data (``http.request.header.x-customer-email``); the span's dropped count
  says how many went.
- The **client's address** on a server span is dropped, or truncated to its /24 (IPv4) or
  /48 (IPv6) network, or kept (``TELEMETRY_CLIENT_ADDRESS``); the **user agent** is dropped
  unless ``TELEMETRY_CAPTURE_USER_AGENT``.
- **Query string values** in URL attributes are replaced by ``[redacted]``, except those of
  the keys in ``TELEMETRY_URL_QUERY_KEYS``.
- **Emails, card tokens and card numbers, bearer/basic credentials, Authorization and
  Cookie values** are replaced in every remaining string: attribute values, the span's name
  and status message, event and link attributes (exception messages and stack traces), log
  record bodies and attributes.
- **Sizes** come from the standard ``OTEL_*_LIMIT`` variables through the settings, which
  give them defaults (``span_limits``, ``log_record_limits``): the SDK cuts span attributes
  and counts; event, link and log attributes, a log body and a status message are cut to
  the same length here, a stack trace keeping its end (the frame that raised), not its start.

Spans are immutable once ended, so ``RedactingSpanExporter`` wraps each exporter and hands
it redacted copies: the work runs in the batch processors' threads, not in the request.
Log records are still writable when emitted: ``RedactingLogProcessor`` edits them in place
and must come before the processor that exports them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.conf import settings
from opentelemetry.sdk._logs import LogRecordLimits, LogRecordProcessor
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status
from opentelemetry.util.types import AnyValue

from instrumentation import attributes
from instrumentation.copies import copy_of

REDACTED = "[redacted]"

# What the shop's instrumentations (Django, requests, Celery, sqlite3, psycopg, Redis) and
# its own code set that helps to diagnose, and everything the viewer, the diagnosis, the
# metrics and the sampling read. A trailing ".*" allows a namespace the shop owns.
ALLOWED_ATTRIBUTES = (
    # Threadline's own (instrumentation/attributes.py)
    "threadline.*",
    "order.*",
    "payment.amount_cents",
    "payment.gateway.*",  # the card gateway call: gateway, operation, outcome, transaction id, latency
    "fault.name",
    "sampling.*",
    attributes.CUSTOMER_TIER,
    # HTTP, both semantic-convention generations (client and server spans)
    "http.method",
    "http.request.method",
    "http.route",
    "http.status_code",
    "http.response.status_code",
    "http.scheme",
    "http.flavor",
    "http.server_name",
    "http.host",
    "http.target",
    "http.url",
    "url.full",
    "url.path",
    "url.query",
    "url.scheme",
    "network.protocol.version",
    "server.address",
    "server.port",
    "net.host.name",
    "net.host.port",
    "net.peer.name",
    "net.peer.port",
    "net.transport",
    "user_agent.synthetic.type",
    "error.type",
    "error.code",
    # Tasks and messaging
    "celery.*",
    "messaging.*",
    # Databases and Redis (statements carry placeholders, never the parameters)
    "db.system",
    "db.system.name",
    "db.name",
    "db.namespace",
    "db.statement",
    "db.query.text",
    "db.operation",
    "db.operation.name",
    "db.redis.database_index",
    "db.redis.args_length",
    # Statements folded into their parent (instrumentation/statements.py): count, time, the
    # statement repeated most (placeholders only, like db.statement; an N+1 shows only
    # there) and the tables written
    "db.summary.*",
    # An exception recorded as span attributes rather than as an event
    "exception.*",
)

# Who called, on a server span: the client's address and port under each convention.
CLIENT_ADDRESS_KEYS = frozenset(
    {"net.peer.ip", "client.address", "http.client_ip", "network.peer.address", "net.sock.peer.addr"}
)
CLIENT_ADDRESS_PORTS = frozenset({"net.peer.port", "client.port", "network.peer.port", "net.sock.peer.port"})
USER_AGENT_KEYS = frozenset({"http.user_agent", "user_agent.original"})
URL_KEYS = frozenset({"http.url", "url.full", "http.target"})
QUERY_KEYS = frozenset({"url.query"})

_SECRET_CHARS = r"[A-Za-z0-9._~+/=-]"
# One pass over a string finds every kind of secret; compiled once, at import.
_SECRETS = re.compile(
    "|".join(
        (
            # "Authorization: Bearer abc", "authorization=abc", "'Authorization': 'Basic abc'"
            r"(?i:\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?[^\s\"',;}]+)",
            # "Cookie: a=1; b=2" up to the end of the line or quote
            r"(?i:\b(?:set-)?cookie\b[\"']?\s*[:=]\s*[\"']?[^\r\n\"'}]+)",
            # A credential on its own: "Bearer abc"
            rf"(?i:\b(?:bearer|basic)\s+{_SECRET_CHARS}{{6,}})",
            # Django's session and CSRF cookies by name, and the cookies listed after them
            r"\b(?:sessionid|csrftoken|csrfmiddlewaretoken)=[^;&\s\"']+(?:;\s*[^;=\s\"']+=[^;\s\"']*)*",
            # Emails, plain or percent-encoded; tried only where a run of such characters
            # starts, or a long run would be re-scanned from each of its characters
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            # Card tokens as payment gateways issue them
            r"\b(?:tok|pm)_[A-Za-z0-9_]+",
            # Card numbers: 13 to 19 digits, spaces or dashes between (Luhn-checked below),
            # standing on their own: a digit run inside a hex trace id or a UUID is no card
            r"(?<![0-9A-Za-z-])(?P<card>\d(?:[ -]?\d){12,18})(?![0-9A-Za-z-])",
        )
    )
)


_CARD_MIN_DIGITS = 13


def redact_text(text: str) -> str:
    """``text`` with every email, card token or number, credential and cookie replaced."""
    if not _may_hold_secret(text):
        return text
    return _SECRETS.sub(_replacement, text)


def _may_hold_secret(text: str) -> bool:
    """Whether ``text`` holds what every pattern needs (an "@", a keyword, 13 digits).

    Substring searches run at C speed, where the patterns' regular expression steps through
    the text a character at a time: most strings (SQL, routes, task names) are let through
    on these checks alone. Written out rather than looped, which costs more than the checks.
    """
    if "@" in text or "%40" in text or "tok_" in text or "pm_" in text:
        return True
    lowered = text.lower()
    if (
        "auth" in lowered
        or "cookie" in lowered
        or "bearer" in lowered
        or "basic" in lowered
        or "sessionid" in lowered
        or "csrf" in lowered
    ):
        return True
    count = text.count
    digits = count("0") + count("1") + count("2") + count("3") + count("4")
    digits += count("5") + count("6") + count("7") + count("8") + count("9")
    return digits >= _CARD_MIN_DIGITS


def _replacement(match: re.Match[str]) -> str:
    card = match.group("card")
    if card is not None and not _luhn_valid(card):
        return card  # a long number that is no card (a count, a timestamp)
    return REDACTED


def _luhn_valid(number: str) -> bool:
    digits = [int(char) for char in number if char.isdigit()]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def redact_query(query: str, keep: frozenset[str]) -> str:
    """A query string with the value of each key not in ``keep`` replaced."""
    parts = []
    for part in query.split("&"):
        key, equals, value = part.partition("=")
        if equals and value and unquote_plus(key) not in keep:
            part = f"{key}={REDACTED}"
        parts.append(part)
    return redact_text("&".join(parts))


def redact_url(url: str, keep: frozenset[str]) -> str:
    """A URL (or a request target) with its query values redacted but for ``keep``."""
    head, question, rest = url.partition("?")
    if not question:
        return redact_text(url)
    query, hash_, fragment = rest.partition("#")
    return f"{redact_text(head)}?{redact_query(query, keep)}{hash_}{REDACTED if fragment else ''}"


def truncate_address(address: str) -> str:
    """An IP address cut to its network: /24 for IPv4, /48 for IPv6; "" if not an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def redact_value(value: AnyValue) -> AnyValue:
    """An attribute value with the secrets in its strings replaced, however nested (a log
    record's attribute can be a mapping: Celery logs a failed task's arguments as one);
    numbers and booleans as they are."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (tuple, list)):
        return tuple(redact_value(item) for item in value)
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    return value


def redact_mapping(values: Mapping[str, AnyValue] | None) -> dict[str, AnyValue]:
    return {key: redact_value(value) for key, value in (values or {}).items()}


# A stack trace lists the outermost frame first and ends with the frame that raised and the
# exception itself: cut to length, it keeps its end, which is what a reader needs.
TAIL_KEPT = frozenset({"exception.stacktrace"})


def cut(key: str, value: AnyValue, length: int | None) -> AnyValue:
    """A string value cut to ``length`` characters: its start, or for a stack trace its end."""
    if length is None or not isinstance(value, str) or len(value) <= length:
        return value
    return "…" + value[len(value) - length + 1 :] if key in TAIL_KEPT else value[:length]


@dataclass(frozen=True)
class Redactor:
    """The privacy policy, compiled: which span attributes pass and how they are cleaned."""

    allowed: frozenset[str]
    allowed_prefixes: tuple[str, ...]
    client_address: str  # "off", "truncated" or "full"
    user_agent: bool
    query_keys: frozenset[str]
    max_text_length: int | None

    CLIENT_ADDRESS_MODES = ("off", "truncated", "full")

    @classmethod
    def build(
        cls,
        *,
        extra_attributes: Iterable[str] = (),
        client_address: str = "off",
        user_agent: bool = False,
        query_keys: Iterable[str] = (),
        max_text_length: int | None = None,
    ) -> Redactor:
        if client_address not in cls.CLIENT_ADDRESS_MODES:
            modes = ", ".join(cls.CLIENT_ADDRESS_MODES)
            raise ValueError(f"TELEMETRY_CLIENT_ADDRESS must be one of {modes}, not {client_address!r}")
        keys = [*ALLOWED_ATTRIBUTES, *extra_attributes]
        return cls(
            allowed=frozenset(key for key in keys if not key.endswith(".*")),
            allowed_prefixes=tuple(key[:-1] for key in keys if key.endswith(".*")),
            client_address=client_address,
            user_agent=user_agent,
            query_keys=frozenset(query_keys),
            max_text_length=max_text_length,
        )

    @classmethod
    def from_settings(cls) -> Redactor:
        return cls.build(
            extra_attributes=settings.TELEMETRY_EXTRA_ATTRIBUTES,
            client_address=settings.TELEMETRY_CLIENT_ADDRESS,
            user_agent=settings.TELEMETRY_CAPTURE_USER_AGENT,
            query_keys=settings.TELEMETRY_URL_QUERY_KEYS,
            max_text_length=span_limits().max_span_attribute_length,
        )

    def is_allowed(self, key: str) -> bool:
        return key in self.allowed or key.startswith(self.allowed_prefixes)

    def span_attributes(self, values: Mapping[str, AnyValue] | None, kind: SpanKind) -> dict[str, AnyValue]:
        """The span attributes that may be exported, cleaned."""
        kept: dict[str, AnyValue] = {}
        server = kind == SpanKind.SERVER
        for key, value in (values or {}).items():
            if server and key in CLIENT_ADDRESS_KEYS:
                if address := self._client_address(value):
                    kept[key] = address
            elif server and key in CLIENT_ADDRESS_PORTS:
                if self.client_address == "full":
                    kept[key] = value
            elif key in USER_AGENT_KEYS:
                if self.user_agent:
                    kept[key] = redact_value(value)
            elif not self.is_allowed(key):
                continue
            elif key in URL_KEYS and isinstance(value, str):
                kept[key] = redact_url(value, self.query_keys)
            elif key in QUERY_KEYS and isinstance(value, str):
                kept[key] = redact_query(value, self.query_keys)
            else:
                kept[key] = redact_value(value)
        return kept

    def _client_address(self, value: AnyValue) -> str:
        if self.client_address == "full":
            return str(value)
        if self.client_address == "truncated":
            return truncate_address(str(value))
        return ""

    def event_attributes(self, values: Mapping[str, AnyValue] | None) -> dict[str, AnyValue]:
        """An event's or a link's attributes (an exception's message and stack trace),
        cut to the length limit and redacted: the SDK leaves their length to this, so that
        a stack trace keeps its last frames (``cut``)."""
        return {
            key: redact_value(cut(key, value, self.max_text_length)) for key, value in (values or {}).items()
        }

    def text(self, value: str) -> str:
        """Free text with no limit of the SDK's (a status message, a log body): redacted, cut."""
        if self.max_text_length is not None:
            value = value[: self.max_text_length]  # first: no work on what is cut anyway
        return redact_text(value)

    def span(self, span: ReadableSpan) -> ReadableSpan:
        """A redacted copy of an ended span."""
        span_attributes = self.span_attributes(span.attributes, span.kind)
        status = span.status
        if status.description:
            status = Status(status.status_code, self.text(status.description))
        return copy_of(
            span,
            dropped=len(span.attributes or {}) - len(span_attributes),
            name=redact_text(span.name),
            attributes=span_attributes,
            events=[Event(e.name, self.event_attributes(e.attributes), e.timestamp) for e in span.events],
            links=[Link(link.context, self.event_attributes(link.attributes)) for link in span.links],
            status=status,
        )

    def identity(self, span: ReadableSpan) -> ReadableSpan:
        """A copy of an ended span with what a metric row keeps of it and nothing more: its
        ids, redacted name, app (``threadline.service``), kind, times and status code."""
        service = (span.attributes or {}).get(attributes.SERVICE)
        return ReadableSpan(
            name=redact_text(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes={attributes.SERVICE: service} if service is not None else {},
            kind=span.kind,
            status=Status(span.status.status_code),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )


class RedactingSpanExporter(SpanExporter):
    """Hands ``inner`` redacted copies of the spans (``Redactor.span``). With
    ``identity_only`` (the metric rows, which keep a span's ids, name, app, kind, times and
    status), copies that hold only those (``Redactor.identity``): redacting attributes,
    events and links that no metric row reads cost a worker process 3 % of its CPU."""

    def __init__(self, inner: SpanExporter, redactor: Redactor, *, identity_only: bool = False) -> None:
        self.inner = inner
        self.redactor = redactor
        self._copy = redactor.identity if identity_only else redactor.span

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([self._copy(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RedactingLogProcessor(LogRecordProcessor):
    """Redacts a log record's body and attributes in place, as it is emitted: add it to the
    logger provider before any processor that exports."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def on_emit(self, log_record) -> None:
        record = log_record.log_record
        if isinstance(record.body, str):
            record.body = self.redactor.text(record.body)
        elif record.body is not None:
            record.body = redact_value(record.body)
        if record.attributes:
            for key, value in list(record.attributes.items()):
                if isinstance(value, (str, tuple, list, Mapping)):
                    record.attributes[key] = redact_value(cut(key, value, self.redactor.max_text_length))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_limits() -> SpanLimits:
    """The SDK's span limits with the settings' defaults for the standard variables; the
    model-specific ones (``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT``, …), when set, the SDK
    reads itself and they win over these."""
    length = _limit(settings.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)
    # Set, the span-specific variable wins: the SDK reads it when given None.
    span_length = None if os.environ.get("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT") else length
    return SpanLimits(
        max_attributes=_limit(settings.OTEL_ATTRIBUTE_COUNT_LIMIT),
        # The SDK cuts span attributes to length; events and links (an exception's stack
        # trace) are cut on export by ``Redactor.event_attributes``, which keeps a stack
        # trace's end where the SDK would keep its start.
        max_attribute_length=SpanLimits.UNSET,
        max_span_attribute_length=span_length,
        max_events=_limit(settings.OTEL_SPAN_EVENT_COUNT_LIMIT),
        max_links=_limit(settings.OTEL_SPAN_LINK_COUNT_LIMIT),
    )


def log_record_limits() -> LogRecordLimits:
    """The logs SDK's limits, from the same global variables as ``span_limits``."""
    return LogRecordLimits(
        max_attributes=_limit(settings.OTEL_ATTRIBUTE_COUNT_LIMIT),
        # Cut by ``RedactingLogProcessor`` instead, which keeps a stack trace's end.
        max_attribute_length=LogRecordLimits.UNSET,
    )


def _limit(value: int | None) -> int:
    """The SDK's word for "no limit" is ``UNSET``; ``None`` would make it read the
    environment again and fall back to its own defaults."""
    return SpanLimits.UNSET if value is None else value
