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
span_exporters, batch_sizes = [], []
for wrapper in provider._active_span_processor._span_processors:
    for processor in getattr(wrapper, "exporting", [wrapper]):  # ExportFilter holds the exporting ones
        exporter = getattr(getattr(processor, "inner", processor), "span_exporter", None)
        if exporter is not None:
            batches = getattr(getattr(processor, "inner", processor), "_batch_processor", None)  # its size
            batch_sizes.append(batches._max_export_batch_size if batches else None)
        while hasattr(exporter, "inner"):  # wrappers: the redaction, the per-service resource
            exporter = exporter.inner
        if exporter is not None:
            span_exporters.append(type(exporter).__name__)
log_processors = setup._log_provider._multi_log_record_processor._log_record_processors
setup.shutdown()
print(json.dumps({
    "span_setting": settings.TELEMETRY_SPAN_EXPORTER,
    "log_setting": settings.TELEMETRY_LOG_EXPORTER,
    "span_exporters": span_exporters,
    "batch_sizes": batch_sizes,
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


def test_spans_reach_the_store_in_small_batches_unless_told_otherwise(tmp_path):
    """The store's batches are OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans, 128 by default rather
    than the SDK's 512: an export holds the process's GIL while it converts its batch."""
    assert _probe(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="")["batch_sizes"] == [128]
    found = _probe(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="32")
    assert found["batch_sizes"] == [32]


# --- Production refuses to start unsafe ---------------------------------------------------

KEY = "k" * 10 + "-production-secret-key-of-fifty-or-more-characters"  # 60 characters
TOKEN = "t" * 10 + "-service-token-of-32-plus-chars"  # 41 characters
SAFE = {
    "DJANGO_SECRET_KEY": KEY,
    "THREADLINE_SERVICE_TOKEN": TOKEN,
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
}

SHOW = """
import json
from django.conf import settings
print(json.dumps({name: getattr(settings, name, None) for name in (
    "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "ALLOWED_HOSTS")}))
"""


def _clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """This process's environment without any Django or secret setting (the suite's own
    test values included), SQLite files in ``tmp_path``, plus ``env``."""
    dropped = ("DJANGO_", "THREADLINE_", "DATABASE_URL", "TELEMETRY_DATABASE_URL")
    kept = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    return {**kept, "DJANGO_SETTINGS_MODULE": "config.settings", "THREADLINE_VAR_DIR": str(tmp_path), **env}


def _python(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=_clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(tmp_path: Path, **env: str) -> dict:
    done = _python(tmp_path, "-c", SHOW, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_debug_is_off_unless_switched_on(tmp_path):
    """Without DJANGO_DEBUG, DEBUG is off (and its error pages with it)."""
    assert _settings(tmp_path, **SAFE)["DEBUG"] is False
    assert _settings(tmp_path, DJANGO_DEBUG="true")["DEBUG"] is True


@pytest.mark.parametrize(
    ("unsafe", "says"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": "dev-only-insecure-key-change-me"}, "DJANGO_SECRET_KEY is the public"),
        ({"DJANGO_SECRET_KEY": "x" * 49}, "DJANGO_SECRET_KEY is 49 characters long"),
        # What Django's deploy check W009 refuses, long as they are.
        ({"DJANGO_SECRET_KEY": "abcd" * 20}, "DJANGO_SECRET_KEY has fewer than 5 distinct characters"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + KEY}, "DJANGO_SECRET_KEY starts with 'django-insecure-'"),
        ({"THREADLINE_SERVICE_TOKEN": ""}, "THREADLINE_SERVICE_TOKEN is not set"),
        ({"THREADLINE_SERVICE_TOKEN": "dev-service-token"}, "THREADLINE_SERVICE_TOKEN is the public"),
        ({"THREADLINE_SERVICE_TOKEN": "y" * 31}, "THREADLINE_SERVICE_TOKEN is 31 characters long"),
        ({"THREADLINE_SERVICE_TOKEN": "y" * 40}, "THREADLINE_SERVICE_TOKEN has fewer than 5 distinct"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS is empty"),
    ],
)
def test_production_refuses_to_start_unsafe(tmp_path, unsafe, says):
    """With DEBUG off, a missing, public-default, short or guessable (W009) secret key or
    service token, or no allowed host, stops manage.py and the WSGI application (gunicorn's)
    with a message that names the variable and says how to make a secret."""
    env = {**SAFE, **unsafe}
    for argv in (["manage.py", "check"], ["-c", "import config.wsgi"]):
        done = _python(tmp_path, *argv, **env)
        assert done.returncode != 0, argv
        assert "Refusing to start with DJANGO_DEBUG off" in done.stderr
        assert says in done.stderr
        assert "secrets.token_urlsafe(50)" in done.stderr


def test_debug_mode_allows_the_dev_defaults(tmp_path):
    """With DJANGO_DEBUG=true nothing needs setting: the dev defaults serve development."""
    done = _python(tmp_path, "manage.py", "check", DJANGO_DEBUG="true")
    assert done.returncode == 0, done.stderr


def test_safe_production_settings_pass_the_deploy_check(tmp_path):
    """DEBUG off with the secret key, the service token and the allowed hosts, and nothing
    else set: HTTPS redirect, HSTS and secure cookies are on, and Django's deploy check
    finds nothing, not even a warning."""
    found = _settings(tmp_path, **SAFE)
    assert found["SECURE_SSL_REDIRECT"] is True
    assert found["SECURE_HSTS_SECONDS"] >= 31536000
    assert found["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert found["SESSION_COOKIE_SECURE"] is found["CSRF_COOKIE_SECURE"] is True
    assert found["SECURE_PROXY_SSL_HEADER"] is None
    done = _python(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING", **SAFE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_security_settings_switch_off_for_plain_http_behind_a_proxy(tmp_path):
    """Each HTTPS setting can be switched by environment, and the proxy's header opted into."""
    found = _settings(
        tmp_path,
        **SAFE,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_HSTS_SECONDS="0",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert found["SECURE_SSL_REDIRECT"] is False
    assert found["SESSION_COOKIE_SECURE"] is found["CSRF_COOKIE_SECURE"] is False
    assert found["SECURE_HSTS_SECONDS"] == 0
    assert found["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_var_files_are_readable_by_their_owner_only(tmp_path):
    """The var directory is made owner-only (even when it existed wider), and files the
    process creates in it (databases, mail, sessions) are too."""
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    code = (
        "from django.conf import settings\n"
        "(settings.VAR_DIR / 'created').write_text('x')\n"
        "for path in (settings.VAR_DIR, settings.VAR_DIR / 'created'):\n"
        "    print(oct(path.stat().st_mode & 0o777))"
    )
    done = _python(tmp_path, "-c", code, **SAFE, THREADLINE_VAR_DIR=str(var))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0o700", "0o600"]


LAUNCHER = """
import json, django
from devstack import launcher
launcher.debug_by_default()
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
launcher.prepare_databases(settings.DEBUG)
users = list(get_user_model().objects.values_list("username", flat=True))
print(json.dumps({"debug": settings.DEBUG, "users": users}))
"""


def test_launcher_runs_in_debug_mode_with_a_dev_login(tmp_path):
    """`make run`'s launcher switches DEBUG on when the environment does not say, creates
    the dev superuser admin/admin and says it is a debug-mode-only login."""
    done = _python(tmp_path, "-c", LAUNCHER)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"debug": True, "users": ["admin"]}
    assert "dev login, debug mode only" in done.stdout


def test_launcher_creates_no_dev_login_outside_debug_mode(tmp_path):
    """With DJANGO_DEBUG=false (and production's secrets), the launcher creates no user."""
    done = _python(tmp_path, "-c", LAUNCHER, **SAFE, DJANGO_DEBUG="false")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"debug": False, "users": []}


def test_error_reports_hide_urls_with_their_passwords(settings):
    """The settings shown on a debug error page and in error mails hide the broker's and
    the databases' URLs, which carry passwords."""
    from django.views.debug import get_default_exception_reporter_filter

    settings.CELERY_BROKER_URL = "redis://:broker-password@redis.internal:6379/0"
    settings.DATABASE_URL = "postgres://shop:db-password@db.internal/shop"
    shown = repr(get_default_exception_reporter_filter().get_safe_settings())
    assert "broker-password" not in shown
    assert "db-password" not in shown


@pytest.mark.django_db
def test_https_redirect_spares_the_internal_apis(client, settings):
    """With the HTTPS redirect on, a browser's plain-HTTP request is redirected, but the
    apps' own calls to the internal APIs (at their plain-HTTP base URLs) are not."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/cart/").status_code == 301
    token = {"Authorization": f"Bearer {settings.SERVICE_TOKEN}"}
    internal = client.get("/api/inventory/stock/", headers=token)
    assert internal.status_code == 200


DATABASES_PROBE = """
import json
from django.conf import settings
found = {alias: [db["CONN_MAX_AGE"], db["CONN_HEALTH_CHECKS"]] for alias, db in settings.DATABASES.items()}
print(json.dumps(found))
"""


def _connection_settings(tmp_path: Path, **env: str) -> dict:
    environment = {**_clean_env(tmp_path, DJANGO_DEBUG="true", **env)}
    if "DATABASE_CONN_MAX_AGE" not in env:
        environment.pop("DATABASE_CONN_MAX_AGE", None)  # the default, whatever the shell says
    done = subprocess.run(
        [sys.executable, "-c", DATABASES_PROBE], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_database_connections_persist_with_health_checks(tmp_path, engine):
    """Both databases (shop and span store), on either engine, keep a connection 60 s for the
    next request and check a reused one first, instead of connecting for every request."""
    urls = {}
    if engine == "postgres":  # parsed only: no server is contacted
        urls = {
            "DATABASE_URL": "postgres://u@127.0.0.1:5432/shop",
            "TELEMETRY_DATABASE_URL": "postgres://u@127.0.0.1:5432/traces",
        }
    assert _connection_settings(tmp_path, **urls) == {"default": [60, True], "telemetry": [60, True]}


def test_database_conn_max_age_is_settable(tmp_path):
    """DATABASE_CONN_MAX_AGE=0 goes back to a connection per request (health checks stay on)."""
    found = _connection_settings(tmp_path, DATABASE_CONN_MAX_AGE="0")
    assert found == {"default": [0, True], "telemetry": [0, True]}


# --- The span store on PostgreSQL -----------------------------------------------------------


@pytest.mark.django_db(databases="__all__")
def test_on_postgresql_the_span_store_alone_commits_without_waiting_for_the_disk():
    """Spans are diagnostics: their database commits asynchronously (synchronous_commit off,
    per session); the shop's records still wait for their write-ahead log to be flushed."""
    from django.db import connections

    if connections["telemetry"].vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's; the PostgreSQL pass (make test-pg) runs this")
    with connections["telemetry"].cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("off",)
    if connections["default"].vendor == "postgresql":
        with connections["default"].cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
