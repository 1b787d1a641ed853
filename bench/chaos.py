"""Chaos under load: the simulator's checkouts against a deployment-like stack (gunicorn,
a Celery worker, beat, PostgreSQL, a Redis broker of its own) while, on a schedule, a
worker child, a web worker or the broker is killed; then what was done and the
simulator's invariants (every order terminal, none lost, stock and money exact).

    .venv/bin/python bench/chaos.py --orders 200 --every 6

Each round of the schedule, ``--every`` seconds apart, takes the next fault in turn:

- ``worker-child``: SIGKILL one of the Celery worker's pool processes (the main process
  starts another; the task in hand is rejected back to the queue: ``acks_late``,
  ``reject_on_worker_lost``, the visibility timeout);
- ``web-worker``: SIGKILL one gunicorn worker (the master starts another; the requests in
  it get no answer, which the simulator retries with the same Idempotency-Key);
- ``broker``: SIGKILL the Redis broker, keep it down ``--broker-down`` seconds, start it
  again empty on the same port (the worker reconnects; the outbox and reconcile recover
  what died with it);
- ``database`` (only when asked for with ``--faults``): the run then uses a PostgreSQL
  server of its own (initdb in a temporary directory), and restarts it with an immediate
  shutdown, as a crash. The shared server given by ``--postgres`` is never restarted.

The stack runs with short recovery settings (reconcile every 2 s, an order stuck after 15 s,
a redelivery after 10 s) so a run of a few hundred orders settles in minutes; the
production defaults (README, "Reliability") change how long orders wait, not whether they
finish. Exit status: the simulator's (0 when every invariant holds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

# bench/stack.py puts the project on sys.path (a script's path holds only bench/), so it is
# imported before any project module.
from stack import DEFAULT_POSTGRES, ROOT, Stack, StackError, children_of

from devstack.broker import PrivateRedis, free_port

FAULTS = ("worker-child", "web-worker", "broker", "database")
DEFAULT_FAULTS = ("worker-child", "web-worker", "broker")
# Recovery settings for a short run (see the module doc).
RECOVERY = {
    "ORDERS_RECONCILE_INTERVAL": "2",
    "ORDERS_STUCK_AFTER": "15",
    "CELERY_VISIBILITY_TIMEOUT": "10",
    "IDEMPOTENCY_LOCK_SECONDS": "10",
}


# Seconds the simulator retries a checkout that got no answer (a web worker killed under it),
# with the same Idempotency-Key: past IDEMPOTENCY_LOCK_SECONDS, so the dead request's key is
# taken over.
RETRY_FOR = 60


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="checkouts to make (default: %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=6, help="checkouts in flight at once (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=14, help="seed of the baskets (default: %(default)s)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="checkouts started per second at most, about what the worker confirms, so a long run "
        "measures the faults rather than a backlog (default: 0, as fast as --concurrency allows)",
    )
    parser.add_argument(
        "--every", type=float, default=6.0, help="seconds between two faults (default: %(default)s)"
    )
    parser.add_argument(
        "--faults",
        default=",".join(DEFAULT_FAULTS),
        help="the faults to cycle through, in order, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--broker-down", type=float, default=3.0, help="seconds the broker stays down (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="seconds the simulator waits for orders to finish after the last checkout "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="a PostgreSQL server's maintenance database, where the run's database is created and "
        "dropped (default: %(default)s)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    unknown = set(args.faults.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}")
    return args


class PrivatePostgres:
    """A PostgreSQL server of the run's own (initdb in a temporary directory, a free port),
    so that restarting it disturbs nobody else; run as the postgres user when this is root."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        pg_ctl = str(found[-1]) if found else shutil.which("pg_ctl")
        if pg_ctl is None:
            raise StackError("the database fault needs PostgreSQL's pg_ctl and initdb")
        self.bin = Path(pg_ctl).parent
        self.dir = Path(tempfile.mkdtemp(prefix="threadline-chaos-pg-"))
        self.data, self.port = self.dir / "data", free_port()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.dir, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._ctl("start")
        self.admin_url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self.as_owner, str(self.bin / tool), *args]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o", options, *args, action
        )

    def restart(self) -> None:
        """Immediate shutdown (as a crash: open transactions roll back at recovery, every
        connection drops), then start again."""
        self._ctl("restart", "-m", "immediate")

    def close(self) -> None:
        self._ctl("stop", "-m", "fast")
        shutil.rmtree(self.dir, ignore_errors=True)


class Chaos:
    """Injects the faults in turn until stopped; remembers what it did."""

    def __init__(
        self, stack: Stack, redis: PrivateRedis, args: argparse.Namespace, postgres: PrivatePostgres | None
    ) -> None:
        self.stack, self.redis, self.args, self.postgres = stack, redis, args, postgres
        self.done: list[str] = []
        self.stopped = threading.Event()
        self.started = time.monotonic()

    def log(self, text: str) -> None:
        line = f"t={time.monotonic() - self.started:6.1f}s  {text}"
        self.done.append(line)
        print(f"chaos: {line}", flush=True)

    def run(self) -> None:
        faults = self.args.faults.split(",")
        for done, fault in enumerate(itertools.cycle(faults), start=1):
            if self.stopped.wait(self.args.every):
                return
            getattr(self, fault.replace("-", "_"))()
            if done % len(faults) == 0:  # after each round, where the orders stand
                self.log(self.orders())

    def orders(self) -> str:
        """``orders: 315 confirmed, 2522 placed, …``: a run whose confirmations fall behind
        its checkouts shows it while it runs, not at its timeout."""
        try:
            with self.stack.connect() as connection:
                rows = connection.execute(
                    "SELECT status, count(*) FROM orders_order GROUP BY status ORDER BY count(*) DESC"
                ).fetchall()
        except psycopg.Error as exc:  # the database may be restarting
            return f"orders: not read ({type(exc).__name__})"
        return "orders: " + (", ".join(f"{count} {status}" for status, count in rows) or "none yet")

    def _kill_child(self, name: str, what: str) -> None:
        process = self.stack.processes[name]
        parent = process.pid
        if process.poll() is not None:  # a dead parent is a zombie with no children: say so
            self.log(f"{what}: none running ({name} pid {parent} exited with {process.returncode}); skipped")
            return
        children = children_of(parent)
        if not children:
            self.log(f"{what}: none running (pid {parent} has no children); skipped")
            return
        victim = children[0]
        os.kill(victim, signal.SIGKILL)
        self.log(f"{what}: SIGKILL pid {victim} (of {len(children)})")

    def worker_child(self) -> None:
        self._kill_child("worker", "worker child")

    def web_worker(self) -> None:
        self._kill_child("gunicorn", "web worker")

    def broker(self) -> None:
        self.redis.crash()
        self.log(f"broker: SIGKILL redis (pid {self.redis.process.pid}); down {self.args.broker_down:g}s")
        if self.stopped.wait(self.args.broker_down):
            self.redis.start()  # the run ends: bring it back so the stack can settle
            return
        self.redis.start()
        self.log(f"broker: restarted empty on port {self.redis.port} (pid {self.redis.process.pid})")

    def database(self) -> None:
        assert self.postgres is not None  # main() starts one when the fault is asked for
        began = time.monotonic()
        self.postgres.restart()
        took = time.monotonic() - began
        self.log(f"database: PostgreSQL crashed (immediate shutdown) and restarted in {took:.1f}s")


def simulate(stack: Stack, args: argparse.Namespace) -> subprocess.Popen:
    report = stack.var / "report.json"
    command = ["simulate_orders", "--orders", str(args.orders), "--concurrency", str(args.concurrency)]
    command += ["--seed", str(args.seed), "--timeout", str(args.timeout), "--url", stack.url]
    command += ["--retry-for", str(RETRY_FOR), "--rate", str(args.rate), "--json", str(report)]
    return subprocess.Popen([sys.executable, "manage.py", *command], cwd=ROOT, env=stack.env)


def _state(name: str, process: subprocess.Popen) -> str:
    """``worker running (2 children)`` or ``worker exited 1``: a run whose orders stopped
    moving says whether the worker died or lives on without a pool."""
    if process.poll() is not None:
        return f"{name} exited {process.returncode}"
    return f"{name} running ({len(children_of(process.pid))} children)"


def faults_line(chaos: Chaos) -> str:
    kinds = {"worker child": 0, "web worker": 0, "broker: SIGKILL": 0, "database: PostgreSQL crashed": 0}
    for line in chaos.done:
        for kind in kinds:
            if f"  {kind}" in line and "skipped" not in line:
                kinds[kind] += 1
    return (
        f"faults injected: {kinds['worker child']} worker children killed, {kinds['web worker']} web "
        f"workers killed, {kinds['broker: SIGKILL']} broker crashes (down {chaos.args.broker_down:g}s, "
        f"restarted empty), {kinds['database: PostgreSQL crashed']} database crashes (immediate shutdown, "
        "restarted)"
    )


def summary(chaos: Chaos, report: dict, seconds: float) -> str:
    lines = [
        "",
        f"chaos run: {report['orders']} orders, concurrency {report['concurrency']}, "
        f"one fault every {chaos.args.every:g}s ({chaos.args.faults}), {seconds:.0f}s in all",
        faults_line(chaos),
        f"answers: {report['answers']} ({report['retried']} checkouts retried with their Idempotency-Key); "
        f"confirmed {report['confirmed']}, failed {report['failed_by_reason']}",
        "processes at the end: " + ", ".join(_state(name, p) for name, p in chaos.stack.processes.items()),
        "invariants:",
        *(f"  {'PASS' if c['passed'] else 'FAIL'}  {c['name']}: {c['detail']}" for c in report["checks"]),
        "result: " + ("PASS" if report["passed"] else "FAIL"),
        "what was done:",
        *(f"  {line}" for line in chaos.done),
    ]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    # Ctrl-C, and also SIGINT to a run started in a script's background (where the shell
    # ignores SIGINT) or SIGTERM: the same orderly stop, with the summary so far.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    redis = PrivateRedis()
    postgres = PrivatePostgres() if "database" in args.faults.split(",") else None
    admin_url = postgres.admin_url if postgres else args.postgres
    stack = Stack(postgres=admin_url, broker_url=redis.url, env=RECOVERY, name="chaos")
    try:
        stack.prepare(stock_units=2 * args.orders)  # no checkout refused for stock
        stack.start(beat=True)
        chaos = Chaos(stack, redis, args, postgres)
        began = time.monotonic()
        run = simulate(stack, args)
        injector = threading.Thread(target=chaos.run, daemon=True)
        injector.start()
        try:
            returncode = run.wait()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop, and say what was done and where orders stand
            chaos.stopped.set()
            run.terminate()
            run.wait()
            injector.join()
            seconds = time.monotonic() - began
            print(f"\ninterrupted after {seconds:.0f}s", faults_line(chaos), chaos.orders(), sep="\n")
            return 130
        chaos.stopped.set()
        injector.join()
        report = json.loads((stack.var / "report.json").read_text())
        print(summary(chaos, report, time.monotonic() - began))
        return returncode
    except StackError as exc:
        print(f"the stack did not start: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.close(keep_logs=args.keep_logs)
        redis.stop()
        if postgres is not None:
            postgres.close()


if __name__ == "__main__":
    sys.exit(main())
