"""The service dashboard: per-operation metrics, the services graph, their SVG charts and the
alert rules that watch the same figures."""
