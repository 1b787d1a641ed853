"""The embedded trace store and its pages, one app with a room per job:

- ``store``: the write path (exporters, the search index written with the spans), the
  database router and retention;
- ``selectors`` and ``tree``: every read of spans, and the one span-tree model;
- ``diagnosis``: what a trace says went wrong (analysis, text rendering, ``trace`` command);
- ``viewer``: search, the trace page, compare, OTLP in and out;
- ``dashboard``: metrics, charts, the services graph and alerts.

It depends on no domain app; the instrumentation package feeds it through the exporters
named in settings.
"""
