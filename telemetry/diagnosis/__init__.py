"""Diagnosis of a trace: its analysis (``analysis.analyze``: self time, root cause,
propagation, recommendations, one module each), the critical path, and the words and text
tree the ``trace`` command prints (``text``, ``render``). Every part walks one
``telemetry.tree.SpanTree``."""
