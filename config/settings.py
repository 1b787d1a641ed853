"""Settings for the Threadline shop, read once from the environment.

Nothing else in the project reads ``os.environ``. App settings carry their app's prefix
(``ORDERS_…``, ``TELEMETRY_…``); standard variables keep their standard names
(``DATABASE_URL``, ``CELERY_BROKER_URL``, ``OTEL_…``). The README lists them all.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import queues
from instrumentation import names

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("THREADLINE_VAR_DIR", BASE_DIR / "var"))
# Sessions, mail and the SQLite databases live here: the owner's alone. The directory is
# made private (also when it already existed with a wider mode), and so is what this process
# creates anywhere: the umask removes group and other bits from every new file.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
VAR_DIR.chmod(0o700)
os.umask(0o077)


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_list(name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, default).split(",") if item.strip())


def _env_limit(name: str, default: int) -> int | None:
    """An OpenTelemetry limit: a non-negative integer, or "unset" for none (None)."""
    value = os.environ.get(name, str(default)).strip().lower()
    if value == "unset":
        return None
    if not value.isdigit():
        raise ImproperlyConfigured(f"{name} must be a non-negative integer or 'unset', not {value!r}")
    return int(value)


# Off unless switched on: `make run` (devstack) switches it on for itself and its children.
# Its error pages show settings, and it lets the dev defaults below through.
DEBUG = _env_bool("DJANGO_DEBUG", False)
# The dev defaults are public (they are in this file): with DEBUG off they are refused below.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
DEV_SERVICE_TOKEN = "dev-service-token"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or (DEV_SECRET_KEY if DEBUG else "")
# With DEBUG off there is no default: the hosts the shop answers for must be named.
_DEV_HOSTS = "127.0.0.1,localhost,testserver"
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", _DEV_HOSTS if DEBUG else "").split(",")
    if host.strip()
]

# Debug error pages and error mails list the settings: hide URLs too (they carry passwords).
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.safety.SettingsFilter"

# --- HTTPS (README "Production checklist") -----------------------------------------------
# Safe with DEBUG off, each switchable for a plain-HTTP setup (DJANGO_SECURE_SSL_REDIRECT=false
# and the cookie switches) or for TLS ended at a proxy (DJANGO_SECURE_PROXY_SSL_HEADER).
SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# The internal APIs are called by the apps themselves at their *_BASE_URL, often plain HTTP
# on the host; a redirect would break them and protects nothing (the token is already sent).
SECURE_REDIRECT_EXEMPT = [r"^api/(orders|inventory|payments)/"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading asks browsers' vendors to hard-code HTTPS for the whole domain, a decision for
# its owner that is slow to undo: off unless asked for, and its deploy warning silenced.
SECURE_HSTS_PRELOAD = _env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = _env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = _env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
# Behind a proxy that ends TLS: the header it sets, e.g. X-Forwarded-Proto (then a request
# with "https" in it counts as secure). Only when the proxy always sets or strips it.
_PROXY_SSL_HEADER = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")

INSTALLED_APPS = [
    # Before the admin, so telemetry/templates/admin/base_site.html (the alert banner)
    # overrides the admin's own.
    "telemetry",
    # Development tooling: its runserver (make run's server) shadows staticfiles' one, so it
    # comes before django.contrib.staticfiles.
    "devstack",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Counts failed logins (admin login, the project's only password form) and locks out.
    "axes",
    # The OpenAPI schema at /api/schema/ and its docs page; the sidecar ships Swagger UI's
    # files as static files, so the page loads nothing from a CDN (offline, and within the CSP).
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shop",
    "inventory",
    "payments",
    "orders",
    "faults",
    # Tooling, outside the product: the order simulator and synthetic traces (commands only).
    "simulator",
    "synthetic",
]

MIDDLEWARE = [
    # First: the CPU of everything below, on the request's span (instrumentation/cpu.py).
    "instrumentation.cpu.ThreadCpuMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The storefront's pages in the customer's language: prices as "€29.99" or "29,99 €".
    "shop.middleware.StorefrontLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A page whose view meets a database outage answers 503 with Retry-After, not a 500.
    "shop.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.cart",
                "telemetry.dashboard.context_processors.firing_alerts",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"

# --- Databases -------------------------------------------------------------------------
# The shop's tables live in "default"; spans live in "telemetry", a separate database so a
# failing shop database never takes telemetry with it and span writes never hold the
# shop's locks. SQLite files by default, PostgreSQL through DATABASE_URL.
SQLITE_OPTIONS = {
    # IMMEDIATE: a read-then-write transaction takes the write lock up front instead of
    # failing with "database is locked" when it upgrades; timeout is the busy timeout (s).
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


# Seconds a request thread (or a Celery task) keeps its database connection for the next
# one: opening a PostgreSQL connection costs more CPU than an order's own statements. The
# health check tests a reused connection once per request before trusting it, so a restarted
# server costs one reconnect, not an error. 0 closes after every request, as before.
# Celery's Django fixup applies the same rule around each task (close_if_unusable_or_obsolete).
DATABASE_CONN_MAX_AGE = int(os.environ.get("DATABASE_CONN_MAX_AGE", 60))


def _database(url: str) -> dj_database_url.DBConfig:
    config = dj_database_url.parse(url, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True)
    # Test databases are named per process, so two test runs on one machine never share one.
    test_suffix = f"test_{os.getpid()}"
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = dict(SQLITE_OPTIONS)
        # Tests use a file, not memory, so live-server threads get their own connections
        # and see SQLite's real locking, as the server and worker do.
        config["TEST"] = {"NAME": str(Path(config["NAME"]).with_suffix(f".{test_suffix}.sqlite3"))}
    else:
        config["TEST"] = {"NAME": f"{config['NAME']}_{test_suffix}"}
    return config


# The URLs stay settings of their own too: the flow tests derive fresh databases from them.
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'shop.sqlite3'}")
TELEMETRY_DATABASE_URL = os.environ.get("TELEMETRY_DATABASE_URL", f"sqlite:///{VAR_DIR / 'traces.sqlite3'}")
DATABASES = {"default": _database(DATABASE_URL), "telemetry": _database(TELEMETRY_DATABASE_URL)}
# Spans are diagnostics, not the shop's records: on PostgreSQL the span store commits without
# waiting for its write-ahead log to reach the disk (synchronous_commit=off, per session).
# A crash of the database server can lose its last fraction of a second of spans, never
# corrupt them, and an export no longer waits for a disk flush (issue 15: ingest). "on" waits.
TELEMETRY_SYNCHRONOUS_COMMIT = os.environ.get("TELEMETRY_SYNCHRONOUS_COMMIT", "off")
if DATABASES["telemetry"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["telemetry"].setdefault("OPTIONS", {})["options"] = (
        f"-c synchronous_commit={TELEMETRY_SYNCHRONOUS_COMMIT}"
    )
DATABASE_ROUTERS = ["telemetry.store.routers.TelemetryRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
# The languages a customer's Accept-Language may choose for the storefront (its words are
# English; the language decides how numbers and prices are written, shop/formatting.py).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# WhiteNoise serves the admin's and the viewer's static files under gunicorn too, straight
# from the apps (no collectstatic step for a shop run from its checkout).
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "admin:login"

# --- Email ------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@threadline.local")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
# Who gets alert mails (mail_admins): "Name:email,Other:email2"; empty = nobody.
ADMINS = [
    (name.strip(), email.strip())
    for name, _, email in (entry.rpartition(":") for entry in os.environ.get("DJANGO_ADMINS", "").split(","))
    if email.strip()
]

# --- REST between the apps --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # How a throttle tells clients apart: the client address. Without proxies, REMOTE_ADDR
    # alone; DRF's default (None) would trust any X-Forwarded-For a client makes up.
    "NUM_PROXIES": int(os.environ.get("THREADLINE_PROXY_COUNT", 0)),
    # JSON in, as the apps' clients send it: no form or multipart bodies (nested lines do not
    # fit them, and a cross-site form could post one), so any other type is 415. Nested at
    # most a few levels: a deep body is a 400, not the parser's RecursionError (a 500).
    "DEFAULT_PARSER_CLASSES": ["core.api.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
}
# The OpenAPI schema of every API (README "API schema"): generated from the views and their
# serializers, so it cannot drift from them; tests/core/test_schemathesis.py runs Schemathesis on it.
SPECTACULAR_SETTINGS = {
    "TITLE": "Threadline APIs",
    "DESCRIPTION": (
        "The shop's public API (`/api/shop/`) and the internal APIs the apps call each other "
        "through (`/api/orders/`, `/api/inventory/`, `/api/payments/`, service token only). "
        'Every error is `{"code", "message", "extra"}` with a stable `code`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,  # the schema view itself is not an API of the shop
    "COMPONENT_SPLIT_REQUEST": True,  # request and response shapes apart: an id is output-only
    # Who may read the schema: staff or the service token (README "API schema").
    "SERVE_PERMISSIONS": ["core.schema.MaySeeSchema"],
    "SERVE_AUTHENTICATION": ["rest_framework.authentication.SessionAuthentication"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the schema's URL to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "persistAuthorization": False},
}
# Each app is a service: its base URL is where its REST API answers. In one deployment
# they are all this server; point one elsewhere and nothing else changes.
THREADLINE_BASE_URL = os.environ.get("THREADLINE_BASE_URL", "http://127.0.0.1:8000")
ORDERS_BASE_URL = os.environ.get("ORDERS_BASE_URL", THREADLINE_BASE_URL)
INVENTORY_BASE_URL = os.environ.get("INVENTORY_BASE_URL", THREADLINE_BASE_URL)
PAYMENTS_BASE_URL = os.environ.get("PAYMENTS_BASE_URL", THREADLINE_BASE_URL)
# Internal APIs require this token (Authorization: Bearer ...); the public shop API does not.
SERVICE_TOKEN = os.environ.get("THREADLINE_SERVICE_TOKEN", "") or (DEV_SERVICE_TOKEN if DEBUG else "")
# (connect, read) timeouts for calls between apps, in seconds.
SERVICE_TIMEOUT = (
    _env_float("THREADLINE_CONNECT_TIMEOUT", 2.0),
    _env_float("THREADLINE_READ_TIMEOUT", 10.0),
)
# An Idempotency-Key held longer than this (seconds) by an unfinished request is taken as
# abandoned (its process died) and taken over: longer than the slowest checkout's calls.
IDEMPOTENCY_LOCK_SECONDS = _env_float("IDEMPOTENCY_LOCK_SECONDS", 60.0)
# Keys are forgotten this many seconds after their first use, hourly, by each app's task.
IDEMPOTENCY_KEY_TTL = _env_float("IDEMPOTENCY_KEY_TTL", 86400.0)

# --- Who may call what (README "Who may call what") -------------------------------------
# Proxies in front of the shop that append the client's address to X-Forwarded-For: 0 means
# clients connect directly, and REMOTE_ADDR is the client. The checkout throttle and the
# login lockout both tell clients apart by this address; a header is trusted only as far as
# this many proxies wrote it, so a client cannot pick a new address per request.
THREADLINE_PROXY_COUNT = REST_FRAMEWORK["NUM_PROXIES"]
# Login throttling (django-axes), on the admin login, the project's only password form: after
# AXES_FAILURE_LIMIT failed logins for one username from one address, that pair is refused
# (429) for AXES_COOLOFF_MINUTES. Per pair, not per address alone: behind a proxy or an
# office NAT many people share an address, and a stranger must not be able to lock the
# staff out by guessing. Attempts are rows in the shop database, shared by every process.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before checking
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", 5))
AXES_COOLOFF_MINUTES = _env_float("AXES_COOLOFF_MINUTES", 15.0)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout says what to do: wait, or have an administrator clear it.
AXES_COOLOFF_MESSAGE = (
    f"Too many failed logins for this username from your address. Wait {AXES_COOLOFF_MINUTES:g} "
    "minutes and try again, or ask an administrator to run "
    "'manage.py axes_reset_username <username>'."
)
# Successful logins are not logged (personal data kept for nothing); failures are counted.
AXES_DISABLE_ACCESS_LOG = True
# The client's address as the checkout throttle reads it (see THREADLINE_PROXY_COUNT).
AXES_CLIENT_IP_CALLABLE = "core.api.client_address"

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")

# --- Cache: the checkout throttle's counters ---------------------------------------------
# Redis, which every process of a deployment already reaches (the broker's by default):
# several gunicorn workers, and several hosts, must count one client's checkouts together;
# a per-process memory cache would let each worker allow the full rate. Short socket
# timeouts: the throttle lets checkouts through when Redis does not answer
# (shop/throttling.py), and must not hold them up first.
CACHE_URL = os.environ.get("CACHE_URL", "") or CELERY_BROKER_URL
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "threadline",  # another project on the same Redis keeps its own keys
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}

# Not Celery's default "celery": another project on the same Redis must not take our tasks,
# nor we theirs. The name is also the prefix of each app's own queue (config/queues.py):
# orders', payments' and inventory's tasks travel on "<prefix>.orders", "<prefix>.payments"
# and "<prefix>.inventory", the rest on "<prefix>". A worker consumes them all unless told
# otherwise (-Q names one, for a pool per queue).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "threadline")
CELERY_TASK_QUEUES = queues.declared_queues(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = queues.task_routes(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes every database connection before and after each task unless
# this is set; set past reach, connections are kept or closed by Django's own rule instead
# (CONN_MAX_AGE, health checks: config/celery.py), as for a request.
CELERY_DB_REUSE_MAX = sys.maxsize
CELERY_TASK_ACKS_LATE = True
# With acks_late, a child killed mid-task puts the message back instead of dropping it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than the task time limit plus retries' countdowns, so a slow task is not
    # redelivered while it runs, yet a dead worker's task comes back within minutes.
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 600)),
}
# Publishing must not hang a request when the broker is down: the outbox keeps the task.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
# Surviving a broker crash (issue 14; README, "Reliability"). The worker retries its broker
# forever (Celery's default gives up after 100 tries, about 50 minutes, and exits), every
# 2 s growing to 30 s, at start as after a loss. A task running when the connection drops
# finishes its work; its ack goes nowhere and, should the broker still hold the message,
# it is redelivered and runs again, which every task is written to allow.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Chosen, so Celery's notice that its default will change (printed at every connection
# loss, 8 lines) says nothing new here: config/celery.py silences it before the worker connects.
# Django's LOGGING (with trace ids) stays in charge; worker children write to stderr
# directly instead of through Celery's stdout proxy, which swallowed their records.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False
# Seconds between evaluations of the telemetry alert rules.
TELEMETRY_ALERT_INTERVAL = _env_float("TELEMETRY_ALERT_INTERVAL", 60.0)
# The span store keeps a trace this many days, one with an error this many (telemetry/retention.py);
# beat prunes every TELEMETRY_PRUNE_INTERVAL seconds.
TELEMETRY_RETENTION_DAYS = _env_float("TELEMETRY_RETENTION_DAYS", 7.0)
TELEMETRY_ERROR_RETENTION_DAYS = _env_float("TELEMETRY_ERROR_RETENTION_DAYS", 30.0)
TELEMETRY_PRUNE_INTERVAL = _env_float("TELEMETRY_PRUNE_INTERVAL", 3600.0)
# Seconds between runs of orders.reconcile.
ORDERS_RECONCILE_INTERVAL = _env_float("ORDERS_RECONCILE_INTERVAL", 30.0)
CELERY_BEAT_SCHEDULE = {
    "orders-reconcile": {
        "task": names.RECONCILE_TASK,
        "schedule": ORDERS_RECONCILE_INTERVAL,
    },
    "telemetry-evaluate-alerts": {
        "task": "telemetry.evaluate_alerts",
        "schedule": TELEMETRY_ALERT_INTERVAL,
    },
    "shop-purge-idempotency-keys": {"task": "shop.purge_idempotency_keys", "schedule": 3600.0},
    "payments-purge-idempotency-keys": {"task": "payments.purge_idempotency_keys", "schedule": 3600.0},
    "telemetry-prune-traces": {
        "task": "telemetry.prune_traces",
        "schedule": TELEMETRY_PRUNE_INTERVAL,
    },
}

# --- Shop -------------------------------------------------------------------------------
# The largest public checkout body, in bytes (413 request_too_large above). The checkout's
# own limit, not Django's DATA_UPLOAD_MAX_MEMORY_SIZE: that one is global and would also
# cap the viewer's OTLP upload; fifty lines of JSON are a few kilobytes.
SHOP_CHECKOUT_MAX_BYTES = int(os.environ.get("SHOP_CHECKOUT_MAX_BYTES", 64 * 1024))
# Checkouts one client (address) may place: DRF's "<n>/<second|minute|hour|day>". Beyond it
# the checkout answers 429 with Retry-After (shop/throttling.py). Load runs (the simulator,
# bench/, the flow tests) set their own, higher rate.
SHOP_CHECKOUT_RATE = os.environ.get("SHOP_CHECKOUT_RATE", "20/minute")

# --- Inventory --------------------------------------------------------------------------
# A held reservation is released after this many seconds (its order never finished).
INVENTORY_RESERVATION_TTL = _env_float("INVENTORY_RESERVATION_TTL", 1800.0)

# --- Orders -----------------------------------------------------------------------------
ORDERS_FINALIZE_MAX_RETRIES = int(os.environ.get("ORDERS_FINALIZE_MAX_RETRIES", 3))
# Retry n waits base * 2**n seconds.
ORDERS_FINALIZE_RETRY_BACKOFF = _env_float("ORDERS_FINALIZE_RETRY_BACKOFF", 1.0)
# An order not terminal after this many seconds is pushed on by orders.reconcile.
ORDERS_STUCK_AFTER = _env_float("ORDERS_STUCK_AFTER", 120.0)
# An ended order whose customer has no email on record gets it queued again by reconcile
# (a broker that restarted empty loses the tasks it had taken): this long after the last
# message for it, up to this many messages, within a day of the order's end.
ORDERS_EMAIL_RESEND_AFTER = _env_float("ORDERS_EMAIL_RESEND_AFTER", 600.0)
ORDERS_EMAIL_MAX_SENDS = int(os.environ.get("ORDERS_EMAIL_MAX_SENDS", 3))

# --- Faults -----------------------------------------------------------------------------
# How long running processes may serve a cached copy of the fault flags, in seconds.
FAULTS_CACHE_SECONDS = _env_float("FAULTS_CACHE_SECONDS", 2.0)
# Where the payments_unreachable fault sends calls: a loopback port nothing listens on.
FAULTS_REFUSING_URL = os.environ.get("FAULTS_REFUSING_URL", "http://127.0.0.1:9")

# --- Telemetry --------------------------------------------------------------------------
# OpenTelemetry's own switch turns tracing off too.
OTEL_SDK_DISABLED = _env_bool("OTEL_SDK_DISABLED", False)
TELEMETRY_ENABLED = _env_bool("TELEMETRY_ENABLED", True) and not OTEL_SDK_DISABLED
# The service a process's own spans belong to when no request path says otherwise.
OTEL_SERVICE_NAME = os.environ.get("OTEL_SERVICE_NAME", "shop")
# Server spans are attributed to the app whose URL prefix they hit.
TELEMETRY_SERVICE_BY_PATH = {
    "/api/orders/": "orders",
    "/api/inventory/": "inventory",
    "/api/payments/": "payments",
}
# A task's run belongs to its app's worker (``run/payments.…`` to ``payments-worker``), by
# the task name's prefix; a worker's other spans to TELEMETRY_WORKER_SERVICE.
TELEMETRY_WORKER_SERVICE = os.environ.get("TELEMETRY_WORKER_SERVICE", "orders-worker")
TELEMETRY_WORKER_SERVICE_BY_TASK = queues.worker_services()
# The code's version, as ``service.version`` on every process's resource: which release a
# failure happened in. The project has no package version, so the deployment names it.
THREADLINE_VERSION = os.environ.get("THREADLINE_VERSION", "dev")
# The public edge (instrumentation/edge.py): a request joins its caller's trace (traceparent,
# tracestate, baggage) only on these path prefixes, the internal APIs the apps call each
# other on, and only with the service token; any other starts a new trace linked to the
# caller's. TELEMETRY_TRUST_INCOMING_CONTEXT=true trusts every caller (a gateway in front
# that sets the context itself).
TELEMETRY_TRUST_INCOMING_CONTEXT = _env_bool("TELEMETRY_TRUST_INCOMING_CONTEXT", False)
TELEMETRY_PROPAGATING_PATHS = [
    prefix.strip()
    for prefix in os.environ.get("TELEMETRY_PROPAGATING_PATHS", ",".join(TELEMETRY_SERVICE_BY_PATH)).split(
        ","
    )
    if prefix.strip()
]
# Requests for static files and the trace viewer itself are not traced.
TELEMETRY_EXCLUDED_URLS = os.environ.get("TELEMETRY_EXCLUDED_URLS", "/static/,/favicon.ico,/traces/")
# Fast statements (SELECT, BEGIN, COMMIT, INSERT, UPDATE…) are counted on the span they ran
# under, with the tables they wrote, instead of exported each as a span
# (instrumentation/statements.py); failed and slow (TELEMETRY_SLOW_STATEMENT_MS or longer)
# statements keep a span.
TELEMETRY_SUMMARISE_STATEMENTS = _env_bool("TELEMETRY_SUMMARISE_STATEMENTS", True)
TELEMETRY_SLOW_STATEMENT_MS = _env_float("TELEMETRY_SLOW_STATEMENT_MS", 20.0)
# What one trace may hold in the store (telemetry/store/caps.py): spans over either cap are
# dropped at ingest and counted on the trace, whose page says it is cut short.
TELEMETRY_MAX_SPANS_PER_TRACE = int(os.environ.get("TELEMETRY_MAX_SPANS_PER_TRACE", "10000"))
TELEMETRY_MAX_CHILDREN_PER_SPAN = int(os.environ.get("TELEMETRY_MAX_CHILDREN_PER_SPAN", "2000"))
OTEL_EXPORTER_OTLP_ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
# Where spans and log records are stored: exporter classes loaded by dotted path, so the
# instrumentation package imports no store. Empty: not stored (OTLP alone, if set).
# TELEMETRY_STORE=off empties both: spans leave only over OTLP, to a Collector that samples
# and counts them for every host (docs/scaling.md), and no process writes the span store.
TELEMETRY_STORE = _env_bool("TELEMETRY_STORE", True)
TELEMETRY_SPAN_EXPORTER = (
    os.environ.get("TELEMETRY_SPAN_EXPORTER", "telemetry.store.exporter.StoreSpanExporter")
    if TELEMETRY_STORE
    else ""
)
TELEMETRY_LOG_EXPORTER = (
    os.environ.get("TELEMETRY_LOG_EXPORTER", "telemetry.store.exporter.StoreLogExporter")
    if TELEMETRY_STORE
    else ""
)
# Where the metric rows of every request and task run go, sampled or not (README "Metrics
# stay exact"): a span exporter by dotted path, handed them in batches. Empty (or
# TELEMETRY_STORE=off): not counted here (a Collector's spanmetrics counts them then).
TELEMETRY_METRICS_EXPORTER = (
    os.environ.get("TELEMETRY_METRICS_EXPORTER", "telemetry.store.exporter.StoreMetricsExporter")
    if TELEMETRY_STORE
    else ""
)
# Spans per export to the store (the standard variable; the SDK's default is 512). An export
# runs in the process that made the spans and holds its GIL while it converts the batch:
# small batches keep each hold to a few ms beside the request threads, at some throughput
# (bench/ingest.py). The SDK reads OTEL_BSP_SCHEDULE_DELAY itself, and this variable too for
# the OTLP exporter's batches (512 when unset: a network send releases the GIL).
OTEL_BSP_MAX_EXPORT_BATCH_SIZE = int(os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "128"))
# The function the order admin asks for a failed order's root cause, by dotted path for the
# same reason: the orders app imports no store. Empty: no store to ask, no trace stored.
TELEMETRY_ORDER_DIAGNOSIS = os.environ.get(
    "TELEMETRY_ORDER_DIAGNOSIS", "telemetry.diagnosis.orders.order_diagnosis"
)
# --- Failure groups (telemetry/failures.py, /traces/failures/) ---------------------------
# The function the order admin asks for each listed order's failure group (dotted path, as
# above; empty: no column data). A failed or slow trace is grouped once no span of it has
# been stored for TELEMETRY_FAILURES_SETTLE seconds (the worker's and the web's batches in).
TELEMETRY_ORDER_GROUPS = os.environ.get("TELEMETRY_ORDER_GROUPS", "telemetry.failures.order_failure_groups")
TELEMETRY_FAILURES_SETTLE = _env_float("TELEMETRY_FAILURES_SETTLE", 5.0)

# --- Privacy (README "Privacy defaults") -----------------------------------------------
# Applied to spans and log records before any exporter (store, metric rows, OTLP) sees them:
# instrumentation/privacy.py. Span attributes pass an allow-list; these add keys to it
# (comma-separated, "prefix.*" for a namespace), e.g. "http.request.header.accept".
TELEMETRY_EXTRA_ATTRIBUTES = _env_list("TELEMETRY_EXTRA_ATTRIBUTES", "")
# The client's IP address on server spans: off (dropped), truncated (/24, /48) or full.
TELEMETRY_CLIENT_ADDRESS = os.environ.get("TELEMETRY_CLIENT_ADDRESS", "off").strip().lower()
TELEMETRY_CAPTURE_USER_AGENT = _env_bool("TELEMETRY_CAPTURE_USER_AGENT", False)
# Query string keys whose values are kept in URL attributes; every other value is redacted.
TELEMETRY_URL_QUERY_KEYS = _env_list("TELEMETRY_URL_QUERY_KEYS", "page,p,o,sort,format")
# The OpenTelemetry SDK's standard limits, with defaults where the SDK has none (a value's
# length) or a generous one: a 1 MB request must not become 1 MB of telemetry. "unset"
# lifts a limit. The model-specific variables (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
# OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT, OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, ...) are
# read by the SDK itself and fall back to these.
OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT = _env_limit("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 4096)
OTEL_ATTRIBUTE_COUNT_LIMIT = _env_limit("OTEL_ATTRIBUTE_COUNT_LIMIT", 128)
OTEL_SPAN_EVENT_COUNT_LIMIT = _env_limit("OTEL_SPAN_EVENT_COUNT_LIMIT", 32)
OTEL_SPAN_LINK_COUNT_LIMIT = _env_limit("OTEL_SPAN_LINK_COUNT_LIMIT", 32)

# --- Sampling (README "Sampling") -------------------------------------------------------
# Head sampling, in every process (instrumentation/sampling.py): a trace's root is kept at the
# rate of the first rule that matches it, else at TELEMETRY_SAMPLE_RATE; every other span
# follows its parent. Rules are pattern=rate pairs, comma-separated; a pattern is an fnmatch
# glob matched against the span name (run/orders.reconcile), the request path without its
# leading slash (api/payments/*) and the method with that path (GET api/shop/orders/*).
# The default rules: the checkout whole, the noise at low rates. Static files (if not already
# excluded from tracing) and the admin's own pages; the public order-status poll and the
# storefront order page, which refreshes every 2 s while an order is in progress; beat's runs
# of reconcile (every 30 s) and the hourly purges. (The shop has no health-check route; beat's
# telemetry runs are never traced, see UNTRACED_ROOTS.) Setting TELEMETRY_SAMPLING_RULES
# replaces the whole list: copy the rules to keep.
_DEFAULT_SAMPLING_RULES = ",".join(
    [
        "api/shop/checkout/*=1.0",
        "static/*=0.0",
        "admin/*=0.05",
        "GET api/shop/orders/*=0.01",
        "GET orders/*=0.01",
        "run/orders.reconcile=0.01",
        "run/*.purge_idempotency_keys=0.01",
    ]
)
# The standard variables, for when no Threadline rule is set. Precedence: the rules and
# TELEMETRY_SAMPLE_RATE decide when either is set (a rule, or a rate other than 1.0); else
# OTEL_TRACES_SAMPLER decides when set; else every trace is kept. Setting OTEL_TRACES_SAMPLER
# therefore leaves out the default rules (TELEMETRY_SAMPLING_RULES set as well still wins).
OTEL_TRACES_SAMPLER = os.environ.get("OTEL_TRACES_SAMPLER", "")
OTEL_TRACES_SAMPLER_ARG = os.environ.get("OTEL_TRACES_SAMPLER_ARG", "")
TELEMETRY_SAMPLE_RATE = _env_float("TELEMETRY_SAMPLE_RATE", 1.0)
TELEMETRY_SAMPLING_RULES = os.environ.get(
    "TELEMETRY_SAMPLING_RULES", "" if OTEL_TRACES_SAMPLER.strip() else _DEFAULT_SAMPLING_RULES
)
# A customer tier multiplies every sampling share it is known for (capped at 1).
TELEMETRY_TIER_MULTIPLIERS = os.environ.get("TELEMETRY_TIER_MULTIPLIERS", "premium=1.5,standard=1.0,free=0.5")
# Tail retention, in the store: a trace quiet for TELEMETRY_TAIL_DECISION_WAIT seconds is kept
# if it has an error, kept at TELEMETRY_TAIL_SLOW_SHARE if longer than TELEMETRY_TAIL_SLOW_MS,
# else at TELEMETRY_TAIL_BASE_SHARE (each share times the tier's multiplier).
TELEMETRY_TAIL_SAMPLING = _env_bool("TELEMETRY_TAIL_SAMPLING", False)
TELEMETRY_TAIL_DECISION_WAIT = _env_float("TELEMETRY_TAIL_DECISION_WAIT", 30.0)
TELEMETRY_TAIL_SLOW_MS = _env_float("TELEMETRY_TAIL_SLOW_MS", 2000.0)
TELEMETRY_TAIL_SLOW_SHARE = _env_float("TELEMETRY_TAIL_SLOW_SHARE", 0.5)
TELEMETRY_TAIL_BASE_SHARE = _env_float("TELEMETRY_TAIL_BASE_SHARE", 0.1)
if TELEMETRY_TAIL_SAMPLING:  # decided a few times per wait, so a trace waits at most a third more
    CELERY_BEAT_SCHEDULE["telemetry-decide-traces"] = {
        "task": "telemetry.decide_traces",
        "schedule": max(1.0, TELEMETRY_TAIL_DECISION_WAIT / 3),
    }

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "trace_context": {"()": "instrumentation.logs.TraceContextFilter"},
        "said_by_spans": {"()": "instrumentation.logs.SaidBySpans"},
    },
    "formatters": {
        # What the console prints is what a container's log collection ships: redacted
        # like telemetry (instrumentation/privacy.py), whatever a record holds.
        "traced": {
            "class": "instrumentation.logs.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s [%(name)s] "
            "[trace_id=%(otelTraceID)s span_id=%(otelSpanID)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "traced",
            "filters": ["trace_context"],
        },
        # Records written inside a span go to the span store with it (telemetry/logs.py).
        "spans": {
            "class": "instrumentation.logs.SpanLogHandler",
            "level": "INFO",
            "filters": ["said_by_spans"],
        },
    },
    "root": {"handlers": ["console", "spans"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": "INFO"},
    },
}

# --- Production refuses to start unsafe ---------------------------------------------------
# Checked here, when settings load, so every process refuses alike: gunicorn, Celery's worker
# and beat, and every manage.py command (a build step's too: it gets the real values or its
# own throwaway ones, never the public defaults). A system check would reach only the
# commands that run checks, and neither gunicorn nor Celery runs them.
if not DEBUG:
    from config.safety import refuse_unsafe

    refuse_unsafe(SECRET_KEY, SERVICE_TOKEN, ALLOWED_HOSTS, known={DEV_SECRET_KEY, DEV_SERVICE_TOKEN})
