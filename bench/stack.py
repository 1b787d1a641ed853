"""The production-like stack a benchmark runs against, shared by the benches in ``bench/``.

A ``Stack`` owns a fresh PostgreSQL database (migrated, demo catalogue, stock topped up),
or with ``postgres=None`` a SQLite file as ``make run`` has it, a span store (a SQLite file,
as ``make run`` has it) and a temporary directory for logs; ``start()`` runs gunicorn
(gthread), or a dev server (``server=``), and one Celery worker (prefork, concurrency 2),
and beat when asked, against them with the environment it was given; ``stop()`` ends those
processes (they flush their spans on SIGTERM), so one stack can be restarted with the same
data; ``close()`` also drops the database. The broker is the caller's: a benchmark starts
one private Redis for all its stacks. ``cpu_seconds()`` reads the CPU each part has used.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the project is not
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from devstack import readiness  # noqa: E402
from devstack.broker import free_port  # noqa: E402
from devstack.commands import CommandRunner  # noqa: E402
from shop.demo import CATALOGUE  # noqa: E402

BIN = Path(sys.executable).parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT = 60.0  # seconds for the web server to answer after start()
# Django's own runserver (staticfiles' command, as shipped), which devstack's runserver
# shadows in manage.py: the "before" of bench/devserver.py. argv: the address and port.
STOCK_RUNSERVER = (
    "import sys, django; django.setup(); "
    "from django.core.management import call_command; "
    "from django.contrib.staticfiles.management.commands.runserver import Command; "
    "call_command(Command(), sys.argv[1], use_reloader=False)"
)
# The web servers start() can run: gunicorn as deployed; manage.py runserver as make run
# runs it (without the autoreloader, which only watches files); Django's stock runserver.
SERVERS = ("gunicorn", "runserver", "stock-runserver")


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
        postgres: str | None,
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
        self.shop_file = self.var / "shop.sqlite3"  # the shop's database when postgres is None
        self.port = free_port()  # kept across restarts: gunicorn binds with SO_REUSEADDR
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = self.var / "traces.sqlite3"
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: CommandRunner | None = None
        self.created = False
        inherited = {key: value for key, value in os.environ.items() if key not in set(unset)}
        self.env = {
            **inherited,
            "DATABASE_URL": urlunsplit(urlsplit(postgres)._replace(path=f"/{self.database}"))
            if postgres
            else f"sqlite:///{self.shop_file}",
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
        if self.admin_url:
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
        if self.admin_url:
            self._admin(f'CREATE DATABASE "{self.database}" TEMPLATE "{other.database}"')
            self.created = True
        else:
            shutil.copyfile(other.shop_file, self.shop_file)
        shutil.copyfile(other.store, self.store)

    def manage(self, *args: str) -> str:
        """Run a management command with this stack's environment (one long-lived process,
        devstack/commands.py, saves each a Django start-up); its standard output."""
        if self.commands is None:
            self.commands = CommandRunner(self.env, log=self.var / "commands.log", cwd=ROOT)
        outcome = self.commands.run(*args, timeout=600)
        if outcome.code != 0:
            command = ["manage.py", *args]
            raise subprocess.CalledProcessError(outcome.code, command, outcome.stdout, outcome.stderr)
        return outcome.stdout

    def connect(self) -> psycopg.Connection:
        """A connection to this stack's shop database (autocommit: each read sees the latest)."""
        return psycopg.connect(self.env["DATABASE_URL"], autocommit=True)

    def _admin(self, sql: str) -> None:
        assert self.admin_url, "a SQLite stack has no PostgreSQL server"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # the names are ours: a generated hex suffix

    # --- processes ------------------------------------------------------------------------

    def start(self, *, beat: bool = False, server: str = "gunicorn") -> None:
        """Start the web server (one of SERVERS) and one worker (and beat), and wait until
        the web server answers."""
        self._start(server, *self._server_command(server))
        celery = str(BIN / "celery")
        self._start("worker", celery, "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2")
        if beat:
            schedule = str(self.var / "celerybeat-schedule")
            self._start("beat", celery, "-A", "config", "beat", "--schedule", schedule)
        self._wait_until_up()

    def _server_command(self, server: str) -> list[str]:
        address = f"127.0.0.1:{self.port}"
        if server == "runserver":
            return [sys.executable, "manage.py", "runserver", "--noreload", address]
        if server == "stock-runserver":
            return [sys.executable, "-c", STOCK_RUNSERVER, address]
        assert server == "gunicorn", f"unknown server {server!r}; one of {SERVERS}"
        threads, workers = str(self.threads), str(self.workers)
        # --keep-alive: longer than a client keeps an idle connection, so no reset on reuse.
        command = ["config.wsgi", "-k", "gthread", "--threads", threads, "-w", workers, "-b", address]
        return [str(BIN / "gunicorn"), *command, "--keep-alive", "30"]

    def _start(self, name: str, *command: str) -> None:
        log = open(self.var / f"{name}.log", "a")  # noqa: SIM115 - the child writes it until stopped
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _wait_until_up(self) -> None:
        def alive() -> bool:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise StackError(f"{name} exited with {process.returncode}; see {self.var / name}.log")
            return True

        if readiness.answers(self.url, timeout=START_TIMEOUT, alive=alive):
            return
        web = next(iter(self.processes))  # started first
        raise StackError(f"{web} did not answer within {START_TIMEOUT:.0f} s; see {self.var / web}.log")

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

    def cpu_seconds(self) -> dict[str, float]:
        """CPU (user + system) used so far by each running process and its descendants,
        by name (``gunicorn``, ``worker``, ...), the exited ones included."""
        return {name: tree_cpu_seconds(process.pid) for name, process in self.processes.items()}

    def close(self, *, keep_logs: bool = False) -> None:
        """Stop the processes, drop the database and remove the directory (unless kept)."""
        if self.commands is not None:
            self.commands.close()
        self.stop()
        if self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if keep_logs:
            print(f"{self.name}: logs kept in {self.var}")
        else:
            shutil.rmtree(self.var, ignore_errors=True)


def proc_stats() -> Iterator[tuple[int, list[str]]]:
    """Every process's pid and its /proc stat fields after the command name (Linux): state
    first, then the parent's pid, ... (the name, field 2, may hold spaces: it is split off)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while being read
        yield int(entry.name), fields


def children_of(pid: int) -> list[int]:
    """The living (not zombie) direct children of ``pid``."""
    return sorted(child for child, fields in proc_stats() if int(fields[1]) == pid and fields[0] != "Z")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and all its descendants, living or exited, from /proc (Linux):
    every living process's own time plus the time of the children it has reaped (a reaped
    child's own reaped children included), so each process counts once."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for pid, fields in proc_stats():
        parents[pid] = int(fields[1])
        times[pid] = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def postgres_server_pid(admin_url: str) -> int:
    """The PostgreSQL server's main process (its backends' parent); on this machine only."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None  # the function always answers
        # Read while the backend lives: its parent field names the server's main process.
        return int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])


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
