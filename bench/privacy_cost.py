"""Privacy redaction cost (issue 10): what ``instrumentation.privacy`` adds per span.

Builds the spans one checkout makes in this process (a server span with a query string, the
REST client calls, database statements, a Celery publish, one with an exception naming a
customer) with the SDK, then times, in one run, making and ending them (the SDK's own work,
on the request's thread) against making the redacted copies every exporter gets (which runs
in the batch processors' threads, off the request). Prints microseconds per span for each
and their ratio. A measurement, not a test. Run on demand:

    .venv/bin/python bench/privacy_cost.py --rounds 5 --spans 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")

import django  # noqa: E402

django.setup()

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402
from opentelemetry.util.types import AnyValue  # noqa: E402

from instrumentation.privacy import Redactor, span_limits  # noqa: E402

STATEMENT = (
    'SELECT "orders_order"."id", "orders_order"."email" FROM "orders_order" WHERE "orders_order"."id" = %s'
)
# (name, kind, attributes, exception message or None): one checkout's spans, roughly.
SHAPES: list[tuple[str, SpanKind, Mapping[str, AnyValue], str | None]] = [
    (
        "POST api/shop/checkout/",
        SpanKind.SERVER,
        {
            "http.method": "POST",
            "http.target": "/api/shop/checkout/?utm_source=mail&email=ann@example.com",
            "http.url": "http://127.0.0.1:8000/api/shop/checkout/?utm_source=mail&email=ann@example.com",
            "http.route": "api/shop/checkout/",
            "http.status_code": 202,
            "net.peer.ip": "203.0.113.7",
            "http.user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        },
        None,
    ),
    *[
        (
            "POST",
            SpanKind.CLIENT,
            {"http.method": "POST", "http.url": f"http://127.0.0.1:8000/api/{app}/"},
            None,
        )
        for app in ("orders", "inventory/reservations", "payments/authorizations")
    ],
    *[
        ("SELECT", SpanKind.CLIENT, {"db.system": "sqlite", "db.statement": STATEMENT}, None)
        for _ in range(8)
    ],
    ("apply_async/orders.finalize_order", SpanKind.PRODUCER, {"celery.action": "apply_async"}, None),
    (
        "orders.place",
        SpanKind.INTERNAL,
        {"order.id": "7b0c5e2a", "order.total_cents": 2999},
        "no customer ann@example.com",
    ),
]


def make_spans(provider: TracerProvider, count: int) -> tuple[list[ReadableSpan], float]:
    tracer = provider.get_tracer(__name__)
    spans: list[ReadableSpan] = []
    start = time.perf_counter()
    for index in range(count):
        name, kind, attributes, error = SHAPES[index % len(SHAPES)]
        span = tracer.start_span(name, kind=kind, attributes=attributes)
        if error:
            span.record_exception(ValueError(error))
        span.end()
        spans.append(span)  # type: ignore[arg-type]  # the SDK's span is a ReadableSpan
    return spans, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spans", type=int, default=2000)
    args = parser.parse_args()
    provider = TracerProvider(span_limits=span_limits())
    redactor = Redactor.from_settings()
    made, redacted = [], []
    for _ in range(args.rounds):
        spans, seconds = make_spans(provider, args.spans)
        made.append(seconds / args.spans * 1e6)
        start = time.perf_counter()
        for span in spans:
            redactor.span(span)
        redacted.append((time.perf_counter() - start) / args.spans * 1e6)
    make_us, redact_us = statistics.median(made), statistics.median(redacted)
    print(f"{args.rounds} rounds of {args.spans} spans ({len(SHAPES)} shapes of one checkout)")
    print(f"make and end a span (SDK, request thread): {make_us:8.1f} µs/span (median)")
    print(f"redacted copy (exporter thread):           {redact_us:8.1f} µs/span (median)")
    print(f"redaction / span making:                   {redact_us / make_us:8.2f}")


if __name__ == "__main__":
    main()
