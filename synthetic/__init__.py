"""Tooling: builders of synthetic traces, used by the tests and by ``generate_traces`` to
fill the span store. Not part of the product."""
