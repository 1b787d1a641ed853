"""The trace viewer: search, the trace page and its waterfall, compare, OTLP in and out."""
