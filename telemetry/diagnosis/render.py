"""Turns a stored trace into the terminal tree the ``trace`` command prints."""

from __future__ import annotations

from telemetry.diagnosis.analysis import error_of
from telemetry.models import Span
from telemetry.tree import span_tree


def _error_text(span: Span) -> str:
    return ": ".join(part for part in error_of(span) if part)


def _label(span: Span) -> str:
    attrs = span.attributes
    statement = attrs.get("db.statement")
    if statement:
        first_line = statement.strip().splitlines()[0]
        return f"{span.name}  {first_line[:90]}" if first_line != span.name else span.name
    url = attrs.get("http.url") or attrs.get("url.full")
    if span.kind == "CLIENT" and url:
        return f"{span.name}  → {url}"
    return span.name


def render_tree(spans: list[Span]) -> str:
    if not spans:
        return "no spans"
    start = min(span.start_time_ns for span in spans)
    end = max(span.end_time_ns for span in spans)
    services = sorted({span.service for span in spans})
    errors = sum(span.status == "ERROR" for span in spans)
    lines = [
        f"trace {spans[0].trace_id}: {len(spans)} spans, {(end - start) / 1e6:.1f} ms, "
        f"{errors} errors, services: {', '.join(services)}"
    ]
    for depth, span in span_tree(spans):
        offset = (span.start_time_ns - start) / 1e6
        status = "ERROR" if span.status == "ERROR" else "ok"
        line = (
            f"{'  ' * depth}[{span.service}] {_label(span)}  "
            f"{span.duration_ns / 1e6:.1f} ms (+{offset:.0f} ms) {status}"
        )
        fault = span.attributes.get("fault.name")
        if fault:
            line += f"  fault={fault}"
        if span.status == "ERROR":
            line += f"  ✗ {_error_text(span)}"
        lines.append(line)
    return "\n".join(lines)
