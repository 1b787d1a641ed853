"""Diagnosis of a trace: its analysis (self time, root cause, propagation, recommendations),
the critical path and the text rendering the ``trace`` command prints."""
