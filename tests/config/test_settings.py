"""Settings read from the environment: ``TELEMETRY_STORE=off`` leaves the span store out and
sends spans over OTLP alone. Each case runs a fresh interpreter, because settings are read
once, at import, and a process configures tracing once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Configures tracing as a server process does, makes one request span, flushes, and prints
# the settings and the exporters the providers ended up with.
PROBE = """
import json
from django.conf import settings
from opentelemetry import trace
from instrumentation import setup

provider = setup.configure()
with trace.get_tracer("probe").start_as_current_span("GET api/shop/", kind=trace.SpanKind.SERVER):
    pass
span_exporters = []
for processor in provider._active_span_processor._span_processors:
    exporter = getattr(getattr(processor, "inner", processor), "span_exporter", None)
    if exporter is not None:
        span_exporters.append(type(getattr(exporter, "inner", exporter)).__name__)
log_processors = setup._log_provider._multi_log_record_processor._log_record_processors
setup.shutdown()
print(json.dumps({
    "span_setting": settings.TELEMETRY_SPAN_EXPORTER,
    "log_setting": settings.TELEMETRY_LOG_EXPORTER,
    "span_exporters": span_exporters,
    "log_processors": [type(processor).__name__ for processor in log_processors],
}))
"""


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that only records what is posted to it."""

    received: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, self.headers.get("Content-Type", "")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", _Receiver.received
    server.shutdown()
    server.server_close()


def _probe(tmp_path: Path, **env: str) -> dict:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "THREADLINE_VAR_DIR": str(tmp_path),
        "TELEMETRY_ENABLED": "true",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_store_off_sends_spans_over_otlp_only(tmp_path, otlp_receiver):
    """With TELEMETRY_STORE=off and an OTLP endpoint, neither spans nor log records are
    stored, and the spans reach the endpoint."""
    endpoint, received = otlp_receiver
    found = _probe(tmp_path, TELEMETRY_STORE="off", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    assert found["span_setting"] == found["log_setting"] == ""
    assert found["span_exporters"] == ["OTLPSpanExporter"]
    assert "BatchLogRecordProcessor" not in found["log_processors"]
    assert ("/v1/traces", "application/x-protobuf") in received


def test_store_on_by_default_keeps_the_embedded_store(tmp_path):
    """Without TELEMETRY_STORE, spans and log records go to the embedded store's exporters."""
    found = _probe(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="")
    assert found["span_setting"] == "telemetry.store.exporter.StoreSpanExporter"
    assert found["log_setting"] == "telemetry.store.exporter.StoreLogExporter"
    assert found["span_exporters"] == ["StoreSpanExporter"]
    assert "BatchLogRecordProcessor" in found["log_processors"]
