"""The real thing, as processes: migrated databases, a Redis, the dev server and a Celery
worker, all started for this session; tests talk HTTP to the server and read the traces
the processes stored, through ``manage.py trace --json``.

The shop database is a fresh SQLite file, or a fresh PostgreSQL database when
``DATABASE_URL`` points at PostgreSQL (CI runs the suite once each way).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from celery import Celery
from django.conf import settings
from playwright.sync_api import sync_playwright

from config import queues
from devstack import readiness
from devstack.broker import PrivateRedis, free_port
from devstack.commands import CommandRunner
from tests.chromium import launch

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def confirmation_stored(spans: list[dict]) -> bool:
    """Every run of a confirmation is in the store: the capture, the commit, both reports
    and the email. Each worker process exports its spans in its own batches, so the
    email's run can be stored before a step's run from another process: a test reading
    the whole trace waits for all of them, not for the last one to happen."""
    names = [span["name"] for span in spans]
    runs = ("payments.capture_payment", "inventory.commit_reservation", "orders.send_order_email")
    return names.count("run/orders.record_step") >= 2 and all(f"run/{task}" in names for task in runs)


def undo_stored(spans: list[dict]) -> bool:
    """Every run of an undo is in the store: payments' cancel, inventory's release and both
    reports to orders (each process exports in its own batches, as for a confirmation)."""
    names = [span["name"] for span in spans]
    runs = ("payments.cancel_payment", "inventory.release_reservation")
    return names.count("run/orders.record_undo") >= 2 and all(f"run/{task}" in names for task in runs)


def compensation_stored(spans: list[dict]) -> bool:
    """The compensation's run and every run of the undo it asked for are in the store."""
    return any(span["name"] == "run/orders.compensate_order" for span in spans) and undo_stored(spans)


class Stack:
    def __init__(self, env: dict[str, str], url: str, redis: PrivateRedis) -> None:
        self.env = env
        self.url = url
        self.redis = redis
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: CommandRunner | None = None

    def manage(self, *args: str) -> str:
        """``manage.py`` with the stack's environment, run by one long-lived process
        (devstack/commands.py: a flow test runs hundreds of commands); its standard output."""
        if self.commands is None or self.commands.env != self.env:  # restart() changed the env
            self.close_commands()
            self.commands = CommandRunner(self.env, log=self.log_path("commands"))
        outcome = self.commands.run(*args, timeout=60)
        if outcome.code != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{outcome.stdout}\n{outcome.stderr}")
        return outcome.stdout

    def close_commands(self) -> None:
        if self.commands is not None:
            self.commands.close()
            self.commands = None

    def start(self, name: str, *command: str) -> subprocess.Popen:
        log = open(self.log_path(name), "a")  # noqa: SIM115
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def start_web(self) -> subprocess.Popen:
        # gunicorn, threaded: the concurrency tests need a server that queues connections
        # (runserver's backlog of 10 resets a burst of 30 buyers).
        return self.start(
            "web",
            str(BIN / "gunicorn"),
            "config.wsgi",
            "-k",
            "gthread",
            "-w",
            "2",
            "--threads",
            "32",
            "-b",
            urlsplit(self.url).netloc,
            "--keep-alive",  # longer than a client keeps an idle connection: no reset on reuse
            "30",
            "--graceful-timeout",
            "5",
        )

    def restart(self, **env: str) -> None:
        """Stop the server and the worker (flushing their spans), and start them again with
        ``env`` on top of the environment they had."""
        for name in ("web", "worker"):
            process = self.processes.pop(name)
            process.terminate()
            process.wait(timeout=30)
        self.env.update(env)
        self.start_web()
        self.start_worker()
        _wait_until_up(self)

    def log_path(self, name: str) -> Path:
        return Path(self.env["THREADLINE_VAR_DIR"]) / f"{name}.log"

    def start_worker(self, name: str = "worker", queues: list[str] | None = None) -> subprocess.Popen:
        """A worker consuming every queue, or only ``queues`` (a pool per queue, as
        docs/scaling.md deploys them), under ``name`` (its log is ``<name>.log``)."""
        only = ["-Q", ",".join(queues), "-n", f"{name}@%h"] if queues else []
        return self.start(
            name,
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2" if not queues else "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *only,
        )

    def stop_process(self, name: str) -> None:
        """Stop one process warmly (its spans flushed). One still running 30 s after SIGTERM
        is a failure, reported with its log's last lines after a SIGUSR1 (on which a Celery
        worker logs every thread's stack), and is killed with its children first, so the
        stack is not left half torn down for the tests after it."""
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGUSR1)
            time.sleep(1)
            tail = self.log_path(name).read_text(errors="replace").splitlines()[-80:]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(
                f"{name} did not stop within 30 s of SIGTERM; its log ends:\n" + "\n".join(tail)
            ) from None

    def stop_processes(self, *names: str) -> None:
        """``stop_process`` each, all of them even when one fails (the first failure raised)."""
        with contextlib.ExitStack() as stops:
            for name in names:
                stops.callback(self.stop_process, name)

    def kill_worker(self, name: str = "worker") -> None:
        """SIGKILL the whole worker, parent and children: no warm shutdown, no acks."""
        worker = self.processes.pop(name)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()

    def stop(self) -> None:
        self.close_commands()
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def send_task(self, name: str, **kwargs) -> None:
        """Publish a task straight to the stack's broker, as a duplicate delivery would, on
        the queue its app's worker takes from (a bare app would publish to Celery's "celery")."""
        # Not made the current app: this process's code publishes through ``current_app``.
        with Celery(broker=self.redis.url, set_as_current=False) as app:
            queue = queues.queue_for(name, settings.CELERY_TASK_DEFAULT_QUEUE)
            app.send_task(name, kwargs=kwargs, queue=queue)

    def internal(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call an internal API with the service token."""
        headers = {"Authorization": f"Bearer {self.env['THREADLINE_SERVICE_TOKEN']}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def stock_levels(self) -> dict[str, dict]:
        return {row["sku"]: row for row in self.internal("GET", "/api/inventory/stock/").json()}

    def event_kinds(self, order_id: str) -> list[str]:
        return [event["kind"] for event in self.order(order_id)["events"]]

    def wait_for_event(self, order_id: str, kind: str, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while kind not in self.event_kinds(order_id):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def checkout(self, items: list[tuple[str, int]], token: str = "tok_ok", **headers) -> requests.Response:
        body = {
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
            "email": "flow@example.com",
            "payment": {"method": "card", "token": token},
        }
        return requests.post(f"{self.url}/api/shop/checkout/", json=body, headers=headers, timeout=30)

    def order(self, order_id: str) -> dict:
        return requests.get(f"{self.url}/api/shop/orders/{order_id}/", timeout=10).json()

    def wait_for_status(self, order_id: str, statuses: set[str], timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(order_id)
            if order["status"] in statuses or time.monotonic() > deadline:
                return order
            time.sleep(0.2)

    def trace(self, order_id: str, until=lambda spans: True, timeout: float = 20) -> list[dict]:
        """The order's stored spans, once ``until(spans)`` holds (spans arrive in batches).
        A failure when it never does: a wait that timed out quietly would hand the test a
        partial trace (and hid waits for spans the code no longer makes)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                spans = json.loads(self.manage("trace", "--order", order_id, "--json"))
            except AssertionError:
                spans = []
            if spans and until(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({span["name"] for span in spans})
                raise AssertionError(f"order {order_id}'s trace not as awaited in {timeout:.0f} s: {names}")
            time.sleep(0.5)

    def set_faults(self, *assignments: str) -> None:
        self.manage("faults", "set", *assignments)
        time.sleep(0.5)  # processes cache the flags for FAULTS_CACHE_SECONDS

    def stock(self) -> dict[str, int]:
        rows = requests.get(f"{self.url}/api/shop/products/", timeout=10).json()
        return {row["sku"]: row["available"] for row in rows}


def _fresh_postgres(url: str) -> tuple[str, Callable[[], None]]:
    name = f"threadline_flow_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started


@contextlib.contextmanager
def running_stack(var: Path, **extra_env: str) -> Iterator[Stack]:
    """Databases, Redis, server, worker and beat in ``var``; ``extra_env`` adds to or
    overrides their environment (a test module that needs other settings starts its own)."""
    drops = []  # fresh PostgreSQL databases, dropped at the end

    def database(base: str, sqlite_file: str) -> str:
        """A fresh database of the kind ``base`` is: PostgreSQL, or else a SQLite file."""
        if base.startswith(("postgres://", "postgresql://")):
            url, drop = _fresh_postgres(base)
            drops.append(drop)
            return url
        return f"sqlite:///{var / sqlite_file}"

    database_url = database(settings.DATABASE_URL, "shop.sqlite3")
    store_url = database(settings.TELEMETRY_DATABASE_URL, "traces.sqlite3")
    redis = PrivateRedis()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "THREADLINE_VAR_DIR": str(var),
        "DATABASE_URL": database_url,
        "TELEMETRY_DATABASE_URL": store_url,
        "CELERY_BROKER_URL": redis.url,
        "THREADLINE_BASE_URL": url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",  # log records too
        "ORDERS_FINALIZE_RETRY_BACKOFF": "0.1",
        # Reconcile every second; an order untouched for 8 s is stuck (finalize's retries
        # take about 2 s here); a dead worker's task comes back after 4 s.
        "ORDERS_RECONCILE_INTERVAL": "1",
        "ORDERS_STUCK_AFTER": "8",
        "CELERY_VISIBILITY_TIMEOUT": "4",
        "FAULTS_CACHE_SECONDS": "0.2",
        # Production-like: DEBUG off with secrets of this run's own, on plain HTTP (no TLS
        # and no proxy here, so no HTTPS redirect and no Secure-only cookies).
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "THREADLINE_SERVICE_TOKEN": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SESSION_COOKIE_SECURE": "false",
        "DJANGO_CSRF_COOKIE_SECURE": "false",
        "PYTHONUNBUFFERED": "1",
        # Every trace kept, whatever the environment says: the flow tests read whole traces
        # (test_sampling_flow.py restarts processes of its own with rules).
        "TELEMETRY_SAMPLING_RULES": "",
        "TELEMETRY_SAMPLE_RATE": "1.0",
        "OTEL_TRACES_SAMPLER": "",
        # Bursts of checkouts from one address (the simulator's, 30 buyers at once): the
        # default per-client rate would refuse most of them.
        "SHOP_CHECKOUT_RATE": "100000/minute",
        # A connection per request: a stack's gunicorn has 2 x 32 threads for the bursts, and
        # each would keep one connection per database open, 128 per stack, past PostgreSQL's
        # default max_connections of 100 once two stacks run (README, DATABASE_CONN_MAX_AGE).
        "DATABASE_CONN_MAX_AGE": "0",
        **extra_env,
    }
    stack = Stack(env, url, redis)
    try:
        stack.manage("migrate", "--no-input")
        stack.manage("migrate", "--database", "telemetry", "--no-input")
        stack.manage("seed_demo")
        stack.start_web()
        stack.start_worker()
        stack.start(
            "beat",
            str(BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(var / "celerybeat-schedule"),
        )
        _wait_until_up(stack)
        yield stack
    finally:
        stack.stop()
        stack.redis.stop()
        for drop in drops:
            drop()


def _wait_until_up(stack: Stack) -> None:
    if readiness.answers(stack.url, timeout=60):
        return
    raise RuntimeError("the dev server did not answer within 60 s; see its log in THREADLINE_VAR_DIR")


@pytest.fixture
def calm(stack: Stack):
    """No faults during the test, and none left behind."""
    stack.manage("faults", "reset")
    yield stack
    stack.manage("faults", "reset")


# --- the browser tests' Chromium ------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def staff_page(stack, browser):
    """A page logged in to the admin as a superuser of the session stack."""
    stack.manage(
        "shell", "-c",
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='browser').exists() or "
        "User.objects.create_superuser('browser', 'browser@example.com', 'browser-pw')",
    )  # fmt: skip
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{stack.url}/admin/login/")
    page.fill("#id_username", "browser")
    page.fill("#id_password", "browser-pw")
    page.click("input[type=submit]")
    yield page
    page.close()
