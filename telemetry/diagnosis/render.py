"""Turns a stored trace into the terminal tree the ``trace`` command prints."""

from __future__ import annotations

from instrumentation import attributes
from telemetry.diagnosis.spans import error_text, folded_statements, note, statement_of
from telemetry.models import Span
from telemetry.tree import SpanTree


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
    for depth, span in SpanTree(spans).walk():
        offset = (span.start_time_ns - start) / 1e6
        status = "ERROR" if span.status == "ERROR" else "ok"
        line = (
            f"{'  ' * depth}[{span.service}] {_label(span)}  "
            f"{span.duration_ns / 1e6:.1f} ms (+{offset:.0f} ms) {status}"
        )
        fault = span.attributes.get(attributes.FAULT_NAME)
        if fault:
            line += f"  fault={fault}"
        if span.status == "ERROR":
            line += f"  ✗ {error_text(span)}"
        lines.append(line)
    return "\n".join(lines)


def _label(span: Span) -> str:
    """The name, then what it leaves out: the statement's first line, ``→`` the URL called,
    ``[…]`` the statements folded into it."""
    extra = note(span)
    if not extra:
        return span.name
    if statement_of(span):
        first_line = next(iter(extra.strip().splitlines()), "")
        return f"{span.name}  {first_line[:90]}" if first_line != span.name else span.name
    if extra == folded_statements(span):
        return f"{span.name}  [{extra}]"
    return f"{span.name}  → {extra}"
