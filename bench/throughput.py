"""Throughput benchmark: the order simulator against a production-like stack.

Creates a fresh PostgreSQL database, migrates both database aliases, seeds the demo
catalogue and tops its stock up so that no checkout is refused for stock, then starts a
private Redis, gunicorn (gthread) and one Celery worker (prefork, concurrency 2), runs
``manage.py simulate_orders --json`` against them, prints the confirmed orders per second
and the latency percentiles that run measured, and tears it all down (the database is
dropped). Run on demand, not by the test suite:

    .venv/bin/python bench/throughput.py --orders 300 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: bench/ is on the path, the project is not

import psycopg  # noqa: E402

from devstack.broker import PrivateRedis, free_port  # noqa: E402
from shop.demo import CATALOGUE  # noqa: E402

BIN = Path(sys.executable).parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="checkouts to make (default: %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="checkouts in flight at once (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the baskets (default: %(default)s)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="seconds to wait for orders to finish (default: %(default)s)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn worker processes (default: %(default)s)"
    )
    parser.add_argument(
        "--threads", type=int, default=8, help="threads per gunicorn worker (default: %(default)s)"
    )
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server's maintenance database, where the bench database is created and "
        "dropped (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the processes' logs (printed at the end)"
    )
    return parser.parse_args()


class Bench:
    """The stack under test; ``close()`` stops what was started and drops the database."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.var = Path(tempfile.mkdtemp(prefix="threadline-bench-"))
        self.database = f"threadline_bench_{uuid.uuid4().hex[:8]}"
        self.admin_url = args.postgres
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.redis: PrivateRedis | None = None
        self.env: dict[str, str] = {}

    def database_url(self) -> str:
        return urlunsplit(urlsplit(self.admin_url)._replace(path=f"/{self.database}"))

    def prepare(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.redis = PrivateRedis()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url(),
            "TELEMETRY_DATABASE_URL": f"sqlite:///{self.var / 'traces.sqlite3'}",
            "THREADLINE_VAR_DIR": str(self.var),
            "CELERY_BROKER_URL": self.redis.url,
            "THREADLINE_BASE_URL": self.url,
            "DJANGO_DEBUG": "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.manage("migrate", "--no-input")
        self.manage("migrate", "--database", "telemetry", "--no-input")
        self.manage("seed_demo")
        for sku, *_ in CATALOGUE:  # a basket holds a SKU at most once, 2 units at most
            self.manage("stock_receive", sku, str(2 * self.args.orders))

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        a = self.args
        self._start(
            "gunicorn",
            str(BIN / "gunicorn"),
            "config.wsgi",
            "-k",
            "gthread",
            "--threads",
            str(a.threads),
            "-w",
            str(a.workers),
            "-b",
            f"127.0.0.1:{self.port}",
            "--keep-alive",  # longer than a client keeps an idle connection: no reset on reuse
            "30",
        )
        self._start(
            "worker", str(BIN / "celery"), "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2"
        )
        self._wait_until_up()

    def _start(self, name: str, *command: str) -> None:
        log = open(self.var / f"{name}.log", "w")  # noqa: SIM115 - the child writes it until stopped
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/shop/products/", timeout=2).close()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 60 s; see {self.var / 'gunicorn.log'}")

    def simulate(self) -> tuple[int, dict]:
        a, report = self.args, self.var / "report.json"
        command = ["simulate_orders", "--orders", str(a.orders), "--concurrency", str(a.concurrency)]
        command += [
            "--seed",
            str(a.seed),
            "--timeout",
            str(a.timeout),
            "--url",
            self.url,
            "--json",
            str(report),
        ]
        result = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=self.env)
        return result.returncode, json.loads(report.read_text())

    def postgres_version(self) -> str:
        with psycopg.connect(self.admin_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            assert row is not None  # SHOW always answers one row
            return row[0]

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()  # gunicorn and celery both shut down gracefully on SIGTERM
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within 20 s; killing it", file=sys.stderr)
                os.killpg(process.pid, 9)
                process.wait()
        if self.redis is not None:
            self.redis.stop()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.args.keep_logs:
            print(f"logs kept in {self.var}")
        else:
            shutil.rmtree(self.var, ignore_errors=True)


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        model = f", {names[0]}" if names else ""
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs{model}; {system}; Python {platform.python_version()}"


def summary(bench: Bench, report: dict) -> str:
    a = bench.args
    ms = report["checkout_ms"]
    confirm = report["confirmation_ms"]
    rate = report["confirmed_per_second"]
    return "\n".join(
        [
            "",
            "=== throughput ===",
            f"stack: gunicorn config.wsgi -k gthread --threads {a.threads} -w {a.workers}; one Celery worker "
            f"(prefork, concurrency 2); private Redis; PostgreSQL {bench.postgres_version()}; tracing on",
            f"machine: {machine()}",
            f"run: {a.orders} orders, concurrency {a.concurrency}, seed {a.seed}",
            f"outcomes: {report['confirmed']} confirmed, failed {report['failed_by_reason'] or '-'}, "
            f"{len(report['errors'])} errors, {len(report['stuck'])} stuck",
            f"confirmed orders per second: {rate:.1f}"
            if rate
            else "confirmed orders per second: - (none confirmed)",
            f"  ({report['confirmed']} confirmed, from the first order's creation to the last confirmation)",
            f"checkout latency: p50 {ms['p50']:.0f} ms, p95 {ms['p95']:.0f} ms, p99 {ms['p99']:.0f} ms",
            f"time to confirmation: p50 {confirm['p50']:.0f} ms, p95 {confirm['p95']:.0f} ms"
            if confirm["p50"] is not None
            else "time to confirmation: -",
            "invariants: " + ("PASS" if report["passed"] else "FAIL"),
        ]
    )


def main() -> int:
    args = parse_args()
    bench = Bench(args)
    try:
        bench.prepare()
        bench.start()
        returncode, report = bench.simulate()
        print(summary(bench, report))
        return returncode
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
