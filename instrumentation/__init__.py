"""Threadline's instrumentation: the one package that sets up and touches the OpenTelemetry
SDK, and the only tracing code the domain apps import.

- ``setup``: ``configure()`` / ``shutdown()`` for a process (web, worker, command);
- ``sampling`` and ``processors``: which spans are kept and which app each belongs to;
- ``context``: helpers for the current span and stored trace contexts, ``untraced()``;
- ``attributes`` and ``names``: the attribute keys, span names and routes, declared once;
- ``logs``: the log handler and filter that tie log records to spans.
- ``privacy``: what spans and log records may carry (allow-list, redaction, size limits),
  applied before any exporter sees them.

Exporters are named by settings (``TELEMETRY_SPAN_EXPORTER``, ``TELEMETRY_LOG_EXPORTER``)
and loaded by dotted path, so nothing here imports the span store.
"""
