"""Tracing for Threadline: the one place that sets up OpenTelemetry, the embedded trace
store (its own database) and the viewer and commands that read it."""
