"""Stored spans to and from OTLP JSON (the OTLP/HTTP JSON encoding of a trace export
request), so a trace can be downloaded, opened elsewhere, and loaded back.

``to_otlp`` groups spans by their resource under ``resourceSpans``/``scopeSpans``: ids are
hex, times strings of unix nanoseconds, attributes ``AnyValue``s, kinds and status codes
the protocol's integers. ``from_otlp`` reads such a document (the enum names and plain
numbers are accepted as well) into unsaved ``Span`` rows, naming service and order as the
store's exporter does. The store does not keep instrumentation scopes, so spans leave
under one empty scope.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable

from instrumentation import attributes as attribute_names
from telemetry.models import Span

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


def from_otlp(document: dict) -> list[Span]:
    """The spans of an OTLP JSON document as unsaved rows; ``OtlpError`` if malformed."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
        raise OtlpError("not an OTLP JSON trace document: no resourceSpans list")
    rows = []
    try:
        for resource_spans in document["resourceSpans"]:
            resource = _mapping(((resource_spans or {}).get("resource") or {}).get("attributes"))
            for scope_spans in resource_spans.get("scopeSpans") or []:
                rows += [_row(span, resource) for span in (scope_spans or {}).get("spans") or []]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise OtlpError(f"malformed span: {exc}") from exc
    if not rows:
        raise OtlpError("the document holds no spans")
    return rows


def _row(span: dict, resource: dict) -> Span:
    span_attributes = _mapping(span.get("attributes"))
    start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
    if end < start:
        raise OtlpError(f"span {span.get('spanId')!r} ends before it starts")
    status = span.get("status") or {}
    return Span(
        trace_id=_hex_id(span["traceId"], 32),
        span_id=_hex_id(span["spanId"], 16),
        parent_span_id=_hex_id(span.get("parentSpanId") or "", 16),
        name=str(span.get("name", ""))[:300],
        service=str(
            span_attributes.get(attribute_names.SERVICE) or resource.get("service.name") or "unknown"
        )[:100],
        kind=_enum(span.get("kind", 0), KINDS, "SPAN_KIND_", default="INTERNAL"),
        start_time_ns=start,
        end_time_ns=end,
        duration_ns=end - start,
        status=_enum(status.get("code", 0), STATUSES, "STATUS_CODE_", default="UNSET"),
        status_message=str(status.get("message") or ""),
        attributes=span_attributes,
        events=[
            {
                "name": str(event.get("name", "")),
                "time_ns": int(event.get("timeUnixNano") or 0),
                "attributes": _mapping(event.get("attributes")),
            }
            for event in span.get("events") or []
        ],
        links=[
            {
                "trace_id": _hex_id(link["traceId"], 32),
                "span_id": _hex_id(link["spanId"], 16),
                "attributes": _mapping(link.get("attributes")),
            }
            for link in span.get("links") or []
        ],
        resource=resource,
        order_id=str(span_attributes.get(attribute_names.ORDER_ID, ""))[:36],
    )


def _mapping(key_values: list | None) -> dict:
    return {item["key"]: python_value(item.get("value") or {}) for item in key_values or []}


def python_value(value: dict) -> object:
    """An OTLP ``AnyValue`` as the Python value the store keeps."""
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [python_value(item) for item in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return _mapping((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return str(value["bytesValue"])  # base64, kept as the text it came as
    return None


def _hex_id(value: str, width: int) -> str:
    """An id as lower-case hex; OTLP JSON says hex, protobuf's JSON mapping says base64."""
    value = str(value)
    if not value:
        return ""
    candidate = value.lower()
    if len(candidate) == width and all(c in "0123456789abcdef" for c in candidate):
        return candidate
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) * 2 != width:
        raise OtlpError(f"not a {width}-digit hex id: {value!r}")
    return raw.hex()


def _enum(value: int | str, names: tuple[str, ...], prefix: str, default: str) -> str:
    if isinstance(value, str) and not value.isdigit():
        name = value.removeprefix(prefix)
        if name not in names:
            raise OtlpError(f"unknown {prefix.lower()}value {value!r}")
        return default if name == "UNSPECIFIED" else name
    index = int(value)
    if not 0 <= index < len(names):
        raise OtlpError(f"unknown {prefix.lower()}value {value!r}")
    return default if names[index] == "UNSPECIFIED" else names[index]
