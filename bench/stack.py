"""The production-like stack a benchmark runs against, shared by the benches in ``bench/``.

A ``Stack`` owns a fresh PostgreSQL database (migrated, demo catalogue, stock topped up),
a span store (a SQLite file, as ``make run`` has it) and a temporary directory for logs;
``start()`` runs gunicorn (gthread) and one Celery worker (prefork, concurrency 2), and
beat when asked, against them with the environment it was given; ``stop()`` ends those
processes (they flush their spans on SIGTERM), so one stack can be restarted with the same
data; ``close()`` also drops the database. The broker is the caller's: a benchmark starts
one private Redis for all its stacks.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the project is not
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from devstack.broker import free_port  # noqa: E402
from shop.demo import CATALOGUE  # noqa: E402

BIN = Path(sys.executable).parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT = 60.0  # seconds for gunicorn to answer after start()


class StackError(RuntimeError):
    """A process of the stack did not start (or died while starting)."""


class Stack:
    """One database, one span store and the processes serving them; see the module doc.

    ``env`` is added to this process's environment, after removing the variables named in
    ``unset`` (so that a setting left out takes its default, whatever the caller's shell says).
    """

    def __init__(
        self,
        *,
        postgres: str,
        broker_url: str,
        env: Mapping[str, str] | None = None,
        unset: Iterable[str] = (),
        workers: int = 2,
        threads: int = 8,
        name: str = "bench",
    ) -> None:
        self.admin_url = postgres
        self.name, self.workers, self.threads = name, workers, threads
        self.var = Path(tempfile.mkdtemp(prefix=f"threadline-{name}-"))
        self.database = f"threadline_{name}_{uuid.uuid4().hex[:8]}"
        self.port = free_port()  # kept across restarts: gunicorn binds with SO_REUSEADDR
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = self.var / "traces.sqlite3"
        self.processes: dict[str, subprocess.Popen] = {}
        self.created = False
        inherited = {key: value for key, value in os.environ.items() if key not in set(unset)}
        self.env = {
            **inherited,
            "DATABASE_URL": urlunsplit(urlsplit(postgres)._replace(path=f"/{self.database}")),
            "TELEMETRY_DATABASE_URL": f"sqlite:///{self.store}",
            "THREADLINE_VAR_DIR": str(self.var),
            "CELERY_BROKER_URL": broker_url,
            "THREADLINE_BASE_URL": self.url,
            # Production-like: DEBUG off, secrets of this run's own, plain HTTP (no proxy).
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "THREADLINE_SERVICE_TOKEN": secrets.token_urlsafe(32),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SESSION_COOKIE_SECURE": "false",
            "DJANGO_CSRF_COOKIE_SECURE": "false",
            "PYTHONUNBUFFERED": "1",
            # The benchmarks' load comes from one address: the per-client checkout rate
            # would measure the throttle instead of the shop.
            "SHOP_CHECKOUT_RATE": "1000000/minute",
            **(env or {}),
        }

    # --- data ---------------------------------------------------------------------------

    def prepare(self, stock_units: int) -> None:
        """Create and migrate the database and the span store, load the demo catalogue and
        give every SKU ``stock_units`` more units, so no checkout is refused for stock."""
        self._admin(f'CREATE DATABASE "{self.database}"')
        self.created = True
        self.manage("migrate", "--no-input")
        self.manage("migrate", "--database", "telemetry", "--no-input")
        self.manage("seed_demo")
        for sku, *_ in CATALOGUE:
            self.manage("stock_receive", sku, str(stock_units))

    def prepare_from(self, other: Stack) -> None:
        """The same data as ``other`` (prepared, not running), copied rather than rebuilt:
        PostgreSQL clones its database as a template, the span store file is copied."""
        self._admin(f'CREATE DATABASE "{self.database}" TEMPLATE "{other.database}"')
        self.created = True
        shutil.copyfile(other.store, self.store)

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` with this stack's environment; its standard output."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        return result.stdout

    def connect(self) -> psycopg.Connection:
        """A connection to this stack's shop database (autocommit: each read sees the latest)."""
        return psycopg.connect(self.env["DATABASE_URL"], autocommit=True)

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # the names are ours: a generated hex suffix

    # --- processes ------------------------------------------------------------------------

    def start(self, *, beat: bool = False) -> None:
        """Start gunicorn and one worker (and beat), and wait until gunicorn answers."""
        self._start(
            "gunicorn",
            str(BIN / "gunicorn"),
            "config.wsgi",
            "-k",
            "gthread",
            "--threads",
            str(self.threads),
            "-w",
            str(self.workers),
            "-b",
            f"127.0.0.1:{self.port}",
            "--keep-alive",  # longer than a client keeps an idle connection: no reset on reuse
            "30",
        )
        celery = str(BIN / "celery")
        self._start("worker", celery, "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2")
        if beat:
            schedule = str(self.var / "celerybeat-schedule")
            self._start("beat", celery, "-A", "config", "beat", "--schedule", schedule)
        self._wait_until_up()

    def _start(self, name: str, *command: str) -> None:
        log = open(self.var / f"{name}.log", "a")  # noqa: SIM115 - the child writes it until stopped
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise StackError(f"{name} exited with {process.returncode}; see {self.var / name}.log")
            try:
                urllib.request.urlopen(f"{self.url}/api/shop/products/", timeout=2).close()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        log = self.var / "gunicorn.log"
        raise StackError(f"gunicorn did not answer within {START_TIMEOUT:.0f} s; see {log}")

    def stop(self) -> None:
        """Stop the processes gracefully (SIGTERM: gunicorn and celery finish and flush)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{self.name} {name} did not stop within 20 s; killing it", file=sys.stderr)
                os.killpg(process.pid, 9)
                process.wait()
        self.processes.clear()

    def close(self, *, keep_logs: bool = False) -> None:
        """Stop the processes, drop the database and remove the directory (unless kept)."""
        self.stop()
        if self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if keep_logs:
            print(f"{self.name}: logs kept in {self.var}")
        else:
            shutil.rmtree(self.var, ignore_errors=True)


def postgres_version(admin_url: str) -> str:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        assert row is not None  # SHOW always answers one row
        return row[0]


def machine() -> str:
    """CPU count and model, kernel and Python: the context a figure needs."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        model = f", {names[0]}" if names else ""
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs{model}; {system}; Python {platform.python_version()}"
