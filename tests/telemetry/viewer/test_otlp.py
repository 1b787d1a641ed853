"""Stored spans to OTLP JSON and back (telemetry/otlp.py), checked against the OTLP
protobuf schema and the SDK's own OTLP encoder."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from synthetic.builders import UPDATE_CONFIRMATION, Recorder, failed_order
from telemetry.viewer.otlp import OtlpError, from_otlp, read_otlp, to_otlp

FIELDS = [
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "service",
    "kind",
    "start_time_ns",
    "end_time_ns",
    "duration_ns",
    "status",
    "status_message",
    "attributes",
    "events",
    "links",
    "resource",
    "order_id",
]


def as_dicts(rows) -> list[dict]:
    return sorted(
        ({field: getattr(row, field) for field in FIELDS} for row in rows), key=lambda r: r["span_id"]
    )


def recorded_failed_order() -> list:
    rec = Recorder()
    failed_order(rec)
    return rec.rows()


def test_a_trace_survives_the_round_trip_through_otlp_json_unchanged():
    """Every stored field comes back: ids, times, kinds, statuses, attributes of every
    type, exception events with their stack traces, resource, service, order."""
    rows = recorded_failed_order()
    rows[0].attributes.update(
        {"list": ["a", "b"], "ints": [1, 2], "flag": True, "ratio": 0.25, "nested": {"k": 1}}
    )
    rows[1].links = [{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {"why": "retry"}}]
    document = json.loads(json.dumps(to_otlp(rows)))
    assert as_dicts(from_otlp(document)) == as_dicts(rows)


def test_the_document_is_otlp_json_ids_hex_times_strings_enums_integers():
    """As the OTLP/HTTP JSON encoding says: hex ids, 64-bit numbers as strings, kinds and
    status codes as the protocol's integers, attributes as typed ``AnyValue``s."""
    rows = recorded_failed_order()
    document = to_otlp(rows)
    [resource_spans] = document["resourceSpans"]
    assert {"key": "service.name", "value": {"stringValue": "shop"}} in resource_spans["resource"][
        "attributes"
    ]
    spans = resource_spans["scopeSpans"][0]["spans"]
    statement = {"key": "db.statement", "value": {"stringValue": UPDATE_CONFIRMATION}}
    update = next(s for s in spans if statement in s["attributes"])
    assert len(update["traceId"]) == 32 and len(update["spanId"]) == 16 and len(update["parentSpanId"]) == 16
    assert isinstance(update["startTimeUnixNano"], str) and int(update["endTimeUnixNano"]) > int(
        update["startTimeUnixNano"]
    )
    assert update["kind"] == 3  # SPAN_KIND_CLIENT
    assert update["status"] == {"code": 2, "message": "OperationalError: interrupted"}
    [event] = update["events"]
    assert event["name"] == "exception" and isinstance(event["timeUnixNano"], str)
    attempt = next(s for s in spans if s["name"] == "run/orders.finalize_order")
    assert {"key": "celery.attempt", "value": {"intValue": "1"}} in attempt["attributes"]


def test_the_document_parses_as_the_otlp_protobuf_message():
    """Field names and value types match the protocol's schema (ids converted to the
    base64 that protobuf's JSON mapping expects; OTLP JSON itself says hex)."""
    document = to_otlp(recorded_failed_order())
    for resource_spans in document["resourceSpans"]:
        for span in resource_spans["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId", "parentSpanId"):
                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    message = json_format.ParseDict(document, ExportTraceServiceRequest())
    assert len(message.resource_spans[0].scope_spans[0].spans) == len(recorded_failed_order())


def test_spans_exported_by_the_sdks_own_otlp_encoder_load_as_the_store_would_keep_them():
    """A file another OpenTelemetry tool wrote (protobuf JSON: base64 ids, enum names)
    loads into the same rows the store's exporter makes from those spans."""
    rec = Recorder()
    failed_order(rec)
    document = json_format.MessageToDict(encode_spans(rec.finished()))
    assert as_dicts(from_otlp(document)) == as_dicts(rec.rows())


def test_spans_of_different_processes_go_under_their_own_resource():
    """The web process's and the worker's spans keep their own resource (pid, service)."""
    web, worker = Recorder(process="shop"), Recorder(process="orders-worker")
    web.span("request", service="shop", start=0, ms=5)
    worker.span("run/task", service="orders-worker", start=10, ms=5)
    document = to_otlp(web.rows() + worker.rows())
    services = [
        {a["value"]["stringValue"] for a in r["resource"]["attributes"] if a["key"] == "service.name"}
        for r in document["resourceSpans"]
    ]
    assert services == [{"shop"}, {"orders-worker"}]


def test_service_and_order_are_named_as_the_store_names_them():
    """The app from ``threadline.service``, else the resource's ``service.name``; the order
    from ``order.id``."""
    span = {
        "traceId": "a" * 32,
        "spanId": "b" * 16,
        "name": "work",
        "startTimeUnixNano": "1000",
        "endTimeUnixNano": "3000",
        "attributes": [{"key": "order.id", "value": {"stringValue": "o-1"}}],
        "kind": "SPAN_KIND_SERVER",
        "status": {"code": "STATUS_CODE_ERROR"},
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "jaeger-app"}}]}
    [row] = from_otlp({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]})
    assert (row.service, row.order_id, row.kind, row.status, row.duration_ns) == (
        "jaeger-app",
        "o-1",
        "SERVER",
        "ERROR",
        2000,
    )


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({}, "resourceSpans"),
        ([], "resourceSpans"),
        ({"resourceSpans": []}, "no spans"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}, "refused"),
        (
            {
                "resourceSpans": [
                    {
                        "scopeSpans": [
                            {
                                "spans": [
                                    {
                                        "traceId": "a" * 32,
                                        "spanId": "b" * 16,
                                        "startTimeUnixNano": "5",
                                        "endTimeUnixNano": "1",
                                    }
                                ]
                            }
                        ]
                    }
                ]
            },
            "ends before it starts",
        ),
    ],
)
def test_a_document_that_is_not_an_otlp_trace_is_refused_with_the_reason(document, complaint):
    """``OtlpError`` names what is wrong, so the upload page can say it."""
    with pytest.raises(OtlpError, match=complaint):
        from_otlp(document)


def test_reading_keeps_the_valid_spans_and_counts_the_refused_with_their_reasons():
    """Each span is checked on its own: a NaN, an all-zero id and a negative time are
    refused and named; the valid span is kept."""
    spans = [
        {"traceId": "a" * 32, "spanId": "b" * 16, "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": "a" * 32, "spanId": "c" * 16, "startTimeUnixNano": "1", "endTimeUnixNano": "2",
         "attributes": [{"key": "x", "value": {"doubleValue": "NaN"}}]},
        {"traceId": "0" * 32, "spanId": "d" * 16, "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": "a" * 32, "spanId": "e" * 16, "startTimeUnixNano": "-1", "endTimeUnixNano": "2"},
    ]  # fmt: skip
    loaded = read_otlp({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    assert [row.span_id for row in loaded.rows] == ["b" * 16]
    assert loaded.refused == 3
    assert loaded.reasons == [
        f"span {'c' * 16}: a double value is not a finite number",
        f"span {'d' * 16}: an all-zero id: '{'0' * 32}'",
        f"span {'e' * 16}: the start time is negative",
    ]


def test_every_span_the_store_writes_passes_the_upload_checks():
    """A downloaded trace (attributes of every type, exception events, links) loads back
    with nothing refused."""
    rows = recorded_failed_order()
    rows[0].attributes.update({"list": ["a", "b"], "ratio": 0.25, "nested": {"k": [1, {"deep": True}]}})
    rows[1].links = [{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {"items": "x"}}]
    loaded = read_otlp(json.loads(json.dumps(to_otlp(rows))))
    assert (loaded.refused, len(loaded.rows)) == (0, len(rows))
