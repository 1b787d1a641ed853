"""Stored spans to and from OTLP JSON (the OTLP/HTTP JSON encoding of a trace export
request), so a trace can be downloaded, opened elsewhere, and loaded back.

``to_otlp`` groups spans by their resource under ``resourceSpans``/``scopeSpans``: ids are
hex, times strings of unix nanoseconds, attributes ``AnyValue``s, kinds and status codes
the protocol's integers. ``read_otlp`` reads such a document (the enum names and plain
numbers are accepted as well) into unsaved ``Span`` rows, naming service and order as the
store's exporter does. The store does not keep instrumentation scopes, so spans leave
under one empty scope.

An uploaded file is hostile until checked: each span is checked on its own (ids, 64-bit
times and numbers, finite doubles, sizes, nesting) and refused whole when it breaks a limit,
so that what is stored is what the file said and every stored span can be shown.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from instrumentation import attributes as attribute_names
from telemetry.models import Span
from telemetry.store import caps
from telemetry.tree import SpanTree

KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUSES = ("UNSET", "OK", "ERROR")


class OtlpError(ValueError):
    """The document is not an OTLP JSON trace export."""


# --- to OTLP ---------------------------------------------------------------------------


def to_otlp(spans: Iterable[Span]) -> dict:
    groups: dict[str, list[Span]] = {}
    for span in sorted(spans, key=lambda s: (s.start_time_ns, s.span_id)):
        groups.setdefault(json.dumps(span.resource or {}, sort_keys=True), []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _key_values(group[0].resource)},
                "scopeSpans": [{"scope": {}, "spans": [_span(span) for span in group]}],
            }
            for group in groups.values()
        ]
    }


def _span(span: Span) -> dict:
    kind = KINDS.index(span.kind) if span.kind in KINDS else 0
    status: dict[str, int | str] = {"code": STATUSES.index(span.status) if span.status in STATUSES else 0}
    if span.status_message:
        status["message"] = span.status_message
    return {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "parentSpanId": span.parent_span_id,
        "name": span.name,
        "kind": kind,
        "startTimeUnixNano": str(span.start_time_ns),
        "endTimeUnixNano": str(span.end_time_ns),
        "attributes": _key_values(span.attributes),
        "events": [
            {
                "timeUnixNano": str(event.get("time_ns") or 0),
                "name": event.get("name", ""),
                "attributes": _key_values(event.get("attributes")),
            }
            for event in span.events or []
        ],
        "links": [
            {
                "traceId": link.get("trace_id", ""),
                "spanId": link.get("span_id", ""),
                "attributes": _key_values(link.get("attributes")),
            }
            for link in span.links or []
        ],
        "status": status,
    }


def _key_values(mapping: dict | None) -> list[dict]:
    return [{"key": key, "value": any_value(value)} for key, value in (mapping or {}).items()]


def any_value(value: object) -> dict:
    """A Python value as an OTLP ``AnyValue`` (64-bit integers travel as strings)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _key_values(value)}}
    return {"stringValue": str(value)}


# --- from OTLP -------------------------------------------------------------------------

# What an upload may hold. A span is refused, not trimmed, when it breaks one of these: the
# store keeps what the file says or nothing, and the pages must be able to show all of it.
MAX_SPANS = 100_000
MAX_ITEMS = 128  # attributes, events, links of a span; items of a list (the SDK's default limits)
MAX_KEY_CHARS = 255
MAX_STRING_CHARS = 64 * 1024
MAX_DEPTH = 8  # AnyValue arrays and key-value lists inside one another
MAX_NAME_CHARS = 300  # Span.name
MAX_SERVICE_CHARS = 100  # Span.service
INT64 = (-(2**63), 2**63 - 1)
MAX_REASONS = 5
# Read as numbers by the diagnosis (telemetry.diagnosis.spans): any other type would break
# every view of the trace.
INTEGER_ATTRIBUTES = (attribute_names.TASK_ATTEMPT, "http.status_code", "http.response.status_code")
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")


class Refused(OtlpError):
    """One span cannot be stored as the file gives it."""


@dataclass
class Loaded:
    """What a document holds: the spans that can be stored, and those refused (how many,
    and the reasons of the first few)."""

    rows: list[Span] = field(default_factory=list)
    refused: int = 0
    reasons: list[str] = field(default_factory=list)

    def refuse(self, where: str, reason: str) -> None:
        self.refused += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"{where}: {reason}")


def read_otlp(document: object) -> Loaded:
    """The spans of an OTLP JSON document as unsaved rows, each span checked on its own:
    a span that breaks a limit is refused (and counted), the others kept. ``OtlpError``
    when the document itself is malformed, too large, or holds no span."""
    loaded = Loaded()
    count, problem = 0, ""
    for resource_spans in _list(_field(document, "resourceSpans", required=True), "resourceSpans"):
        try:
            resource = _mapping(_field(_field(resource_spans, "resource"), "attributes"))
        except Refused as exc:
            resource, problem = None, str(exc)
        for scope_spans in _list(_field(resource_spans, "scopeSpans"), "scopeSpans"):
            for span in _list(_field(scope_spans, "spans"), "spans"):
                count += 1
                if count > MAX_SPANS:
                    raise OtlpError(f"the document holds more than {MAX_SPANS} spans")
                where = f"span #{count}"
                if resource is None:
                    loaded.refuse(where, f"its resource: {problem}")
                    continue
                try:
                    loaded.rows.append(_row(span, resource))
                except Refused as exc:
                    loaded.refuse(_where(span, count), str(exc))
    if not count:
        raise OtlpError("the document holds no spans")
    _refuse_parent_loops(loaded)
    _refuse_over_caps(loaded)
    return loaded


def _refuse_parent_loops(loaded: Loaded) -> None:
    """Refuses the spans that no root of their trace reaches (a parent loop, or below
    one): the trace page could draw them nowhere, and their details would not be found."""
    traces: dict[str, list[Span]] = defaultdict(list)
    for row in loaded.rows:
        traces[row.trace_id].append(row)
    reached = {(span.trace_id, span.span_id) for rows in traces.values() for _, span in SpanTree(rows).walk()}
    kept = []
    for row in loaded.rows:
        if (row.trace_id, row.span_id) in reached:
            kept.append(row)
        else:
            loaded.refuse(f"span {row.span_id}", "in a parent loop (no root of its trace reaches it)")
    loaded.rows = kept


def _refuse_over_caps(loaded: Loaded) -> None:
    """Refuses the spans over the store's caps on a trace's spans and a span's children
    (``telemetry.store.caps``), counted within the document; the store counts on from what
    it already holds of each trace. In start order, so the cap keeps a trace's beginning."""
    admitted = caps.admit(sorted(loaded.rows, key=lambda row: row.start_time_ns), caps.Caps.from_settings())
    for row, reason in admitted.dropped:
        loaded.refuse(f"span {row.span_id}", reason)
    kept = {id(row) for row in admitted.kept}
    loaded.rows = [row for row in loaded.rows if id(row) in kept]


def from_otlp(document: object) -> list[Span]:
    """Every span of the document as an unsaved row; ``OtlpError`` if any is refused."""
    loaded = read_otlp(document)
    if loaded.refused:
        raise OtlpError(f"{loaded.refused} span(s) refused: " + "; ".join(loaded.reasons))
    return loaded.rows


def _where(span: object, number: int) -> str:
    span_id = span.get("spanId") if isinstance(span, dict) else None
    if isinstance(span_id, str) and _is_hex(span_id.lower(), 16):
        return f"span {span_id.lower()}"
    return f"span #{number}"


def _field(container: object, key: str, *, required: bool = False) -> object:
    """A member of a JSON object (None when absent); the document's shape is checked here
    so that any malformed structure is named, never a 500."""
    if container is None and not required:
        return None
    if not isinstance(container, dict):
        raise OtlpError(f"not an OTLP JSON trace document: {key} is not inside an object")
    if required and key not in container:
        raise OtlpError(f"not an OTLP JSON trace document: no {key} list")
    return container.get(key)


def _list(value: object, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpError(f"not an OTLP JSON trace document: {name} is not a list")
    return value


def _row(span: object, resource: dict) -> Span:
    if not isinstance(span, dict):
        raise Refused("not an object")
    span_attributes = _mapping(span.get("attributes"))
    for key in INTEGER_ATTRIBUTES:
        if key in span_attributes and (type(span_attributes[key]) is not int):
            raise Refused(f"attribute {key} is not an integer")
    start, end = _time(span.get("startTimeUnixNano"), "start"), _time(span.get("endTimeUnixNano"), "end")
    if end < start:
        raise Refused("ends before it starts")
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise Refused("status is not an object")
    service = span_attributes.get(attribute_names.SERVICE) or resource.get("service.name") or "unknown"
    return Span(
        trace_id=_hex_id(span.get("traceId"), 32),
        span_id=_hex_id(span.get("spanId"), 16),
        parent_span_id=_hex_id(span.get("parentSpanId") or "", 16, optional=True),
        name=_text(span.get("name", ""), "name", MAX_NAME_CHARS),
        service=_text(service if isinstance(service, str) else str(service), "service", MAX_SERVICE_CHARS),
        kind=_enum(span.get("kind", 0), KINDS, "SPAN_KIND_", default="INTERNAL"),
        start_time_ns=start,
        end_time_ns=end,
        duration_ns=end - start,
        status=_enum(status.get("code", 0), STATUSES, "STATUS_CODE_", default="UNSET"),
        status_message=_text(status.get("message") or "", "status message", MAX_STRING_CHARS),
        attributes=span_attributes,
        events=[_event(event) for event in _items(span.get("events"), "events")],
        links=[_link(link) for link in _items(span.get("links"), "links")],
        resource=resource,
        order_id=str(span_attributes.get(attribute_names.ORDER_ID, ""))[:36],
    )


def _event(event: object) -> dict:
    if not isinstance(event, dict):
        raise Refused("an event is not an object")
    return {
        "name": _text(event.get("name", ""), "event name", MAX_NAME_CHARS),
        "time_ns": _time(event.get("timeUnixNano") or 0, "event"),
        "attributes": _mapping(event.get("attributes")),
    }


def _link(link: object) -> dict:
    # A link points at a span: both ids are required (the OTLP spec), an empty one is refused.
    if not isinstance(link, dict):
        raise Refused("a link is not an object")
    return {
        "trace_id": _hex_id(link.get("traceId"), 32),
        "span_id": _hex_id(link.get("spanId"), 16),
        "attributes": _mapping(link.get("attributes")),
    }


def _items(value: object, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Refused(f"{name} is not a list")
    if len(value) > MAX_ITEMS:
        raise Refused(f"more than {MAX_ITEMS} {name}")
    return value


def _mapping(key_values: object, depth: int = 0) -> dict:
    mapping = {}
    for item in _items(key_values, "attributes"):
        if not isinstance(item, dict):
            raise Refused("an attribute is not a key-value object")
        key = item.get("key")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            raise Refused(f"an attribute key is not a string of 1 to {MAX_KEY_CHARS} characters")
        mapping[_text(key, "attribute key", MAX_KEY_CHARS)] = python_value(item.get("value") or {}, depth)
    return mapping


def python_value(value: object, depth: int = 0) -> object:
    """An OTLP ``AnyValue`` as the Python value the store keeps; ``Refused`` for a value
    the store cannot keep as it is (a NaN, a number past 64 bits, nesting too deep)."""
    if not isinstance(value, dict) or len(value) > 1:
        raise Refused("a value is not an AnyValue object")
    if not value:
        return None
    [(kind, inner)] = value.items()
    if kind in ("arrayValue", "kvlistValue"):
        if depth >= MAX_DEPTH:
            raise Refused(f"a value is nested more than {MAX_DEPTH} levels deep")
        if not isinstance(inner, dict | None):
            raise Refused(f"{kind} is not an object")
        values = (inner or {}).get("values")
        if kind == "kvlistValue":
            return _mapping(values, depth + 1)
        return [python_value(item, depth + 1) for item in _items(values, "list items")]
    if kind == "stringValue" or kind == "bytesValue":  # bytes: base64, kept as the text it came as
        return _text(inner, "a string value", MAX_STRING_CHARS)
    if kind == "boolValue" and isinstance(inner, bool):
        return inner
    if kind == "intValue":
        return _int64(inner, "an integer value")
    if kind == "doubleValue":
        return _double(inner)
    raise Refused(f"a value of unknown type {kind[:40]!r}")


def _text(value: object, what: str, limit: int) -> str:
    """A string the store and the pages can hold: at most ``limit`` characters, valid
    UTF-8 (no lone surrogate), no NUL (PostgreSQL refuses it)."""
    if not isinstance(value, str):
        raise Refused(f"{what} is not a string")
    if len(value) > limit:
        raise Refused(f"{what} is longer than {limit} characters")
    if "\x00" in value:
        raise Refused(f"{what} holds a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise Refused(f"{what} is not valid Unicode") from None
    return value


def _int64(value: object, what: str) -> int:
    """A signed 64-bit integer, as a JSON number or the string OTLP JSON writes it as."""
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value)
    if type(value) is not int:
        raise Refused(f"{what} is not an integer")
    if not INT64[0] <= value <= INT64[1]:
        raise Refused(f"{what} does not fit in 64 bits")
    return value


def _time(value: object, what: str) -> int:
    time_ns = _int64(value, f"the {what} time")
    if time_ns < 0:
        raise Refused(f"the {what} time is negative")
    return time_ns


def _double(value: object) -> float:
    """A finite float: JSON has no NaN nor Infinity, and the store's JSON columns refuse
    them (SQLite silently skipped the whole span)."""
    if isinstance(value, str) and len(value) <= 40:
        try:
            value = float(value)
        except ValueError:
            pass
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise Refused("a double value is not a finite number")
    return float(value)


def _is_hex(value: str, width: int) -> bool:
    return len(value) == width and all(c in "0123456789abcdef" for c in value)


def _hex_id(value: object, width: int, *, optional: bool = False) -> str:
    """An id as lower-case hex; OTLP JSON says hex, protobuf's JSON mapping says base64.
    All zeros is the protocol's invalid id."""
    if optional and value == "":
        return ""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise Refused(f"not a {width}-digit hex id: {_brief(value)}")
    candidate = value.lower()
    if not _is_hex(candidate, width):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        candidate = raw.hex()
    if len(candidate) != width:
        raise Refused(f"not a {width}-digit hex id: {value!r}")
    if candidate == "0" * width:
        raise Refused(f"an all-zero id: {value!r}")
    return candidate


def _brief(value: object) -> str:
    """A refused value as a reason quotes it: a short string's repr, else its JSON type
    (``str`` of a list nested hundreds deep would exhaust the recursion limit)."""
    return repr(value[:40]) if isinstance(value, str) else f"of type {type(value).__name__}"


def _enum(value: object, names: tuple[str, ...], prefix: str, default: str) -> str:
    if isinstance(value, str) and not value.isdigit():
        name = value.removeprefix(prefix)
        if name not in names:
            raise Refused(f"unknown {prefix.lower()}value {_brief(value)}")
        return default if name == "UNSPECIFIED" else name
    index = int(value) if isinstance(value, str) and len(value) < 4 else value
    if type(index) is not int or not 0 <= index < len(names):
        raise Refused(f"unknown {prefix.lower()}value {_brief(value)}")
    return default if names[index] == "UNSPECIFIED" else names[index]
