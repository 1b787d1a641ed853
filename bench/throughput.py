"""Throughput benchmark: the order simulator against a production-like stack.

Creates a fresh PostgreSQL database, migrates both database aliases, seeds the demo
catalogue and tops its stock up so that no checkout is refused for stock, then starts a
private Redis, gunicorn (gthread) and one Celery worker (prefork, concurrency 2), runs
``manage.py simulate_orders --json`` against them, prints the confirmed orders per second,
the latency percentiles that run measured, the CPU each process spent per confirmed
order and, from the stored spans (``threadline.cpu_ms``), the CPU of each kind of request
and task run, and tears it all down (the database is dropped). Run on demand, not by the test suite:

    .venv/bin/python bench/throughput.py --orders 300 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# bench/stack.py puts the project on sys.path (a script's path holds only bench/), so it is
# imported before any project module.
from stack import (
    DEFAULT_POSTGRES,
    ROOT,
    Stack,
    StackError,
    machine,
    postgres_server_pid,
    postgres_version,
    tree_cpu_seconds,
)

from devstack.broker import PrivateRedis


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
        default=DEFAULT_POSTGRES,
        help="a PostgreSQL server's maintenance database, where the bench database is created and "
        "dropped (default: %(default)s)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the stack's processes, e.g. OTEL_SDK_DISABLED=true (tracing off) or "
        "DATABASE_CONN_MAX_AGE=0; may be repeated",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the processes' logs (printed at the end)"
    )
    return parser.parse_args()


def cpu_snapshot(stack: Stack, postgres_pid: int) -> dict[str, float]:
    """CPU seconds used so far: the web server, the worker, the PostgreSQL server (all of it,
    so any other use of that server counts too) and this bench's finished children (the
    simulator, once it has ended)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "web (gunicorn)": stack.cpu_seconds()["gunicorn"],
        "worker (celery)": stack.cpu_seconds()["worker"],
        "database (postgres)": tree_cpu_seconds(postgres_pid),
        "client (simulator)": children.ru_utime + children.ru_stime,
    }


def simulate(stack: Stack, args: argparse.Namespace) -> tuple[int, dict]:
    """Run ``manage.py simulate_orders --json`` against the stack; its status and report."""
    report = stack.var / "report.json"
    command = ["simulate_orders", "--orders", str(args.orders), "--concurrency", str(args.concurrency)]
    command += ["--seed", str(args.seed), "--timeout", str(args.timeout), "--url", stack.url]
    command += ["--json", str(report)]
    result = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=stack.env)
    return result.returncode, json.loads(report.read_text())


def cpu_lines(before: dict[str, float], after: dict[str, float], confirmed: int) -> list[str]:
    if not confirmed:
        return ["CPU per confirmed order: - (none confirmed)"]
    spent = {name: after[name] - before[name] for name in before}
    lines = ["CPU per confirmed order (ms), over the simulator's whole run:"]
    lines += [f"  {name:<20} {seconds * 1000 / confirmed:7.1f}" for name, seconds in spent.items()]
    shop = sum(seconds for name, seconds in spent.items() if not name.startswith("client"))
    lines.append(f"  {'shop (all but client)':<20} {shop * 1000 / confirmed:7.1f}")
    return lines


def cpu_by_operation(store: Path, confirmed: int) -> list[str]:
    """The CPU of each kind of request and task run, from the stored server and consumer
    spans' ``threadline.cpu_ms`` (the thread's CPU: work, not waiting; the span export's
    own cost, on another thread, is not in it): runs per confirmed order, median CPU and
    duration of one, CPU per confirmed order. Reads the span store once the stack has
    stopped (every batch flushed)."""
    if not confirmed:
        return []
    query = (
        "SELECT service, name, json_extract(attributes, '$.\"threadline.cpu_ms\"'), duration_ns "
        "FROM telemetry_span WHERE kind IN ('SERVER', 'CONSUMER')"
    )
    runs: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    with sqlite3.connect(store) as db:
        for service, name, cpu_ms, duration_ns in db.execute(query):
            if cpu_ms is not None:
                runs[service, name].append((cpu_ms, duration_ns / 1e6))
    if not runs:
        return ["CPU by operation: - (no span carries threadline.cpu_ms)"]
    lines = [
        "CPU by operation, from the spans (threadline.cpu_ms; export not included):",
        f"  {'service':<17} {'operation':<42} {'per order':>9} {'CPU p50':>8} {'took p50':>9}"
        f" {'CPU/order':>10}",
    ]
    rows = sorted(runs.items(), key=lambda item: -sum(cpu for cpu, _ in item[1]))
    for (service, name), spans in rows:
        cpu = [c for c, _ in spans]
        took = [d for _, d in spans]
        lines.append(
            f"  {service:<17} {name[:42]:<42} {len(spans) / confirmed:9.2f} {statistics.median(cpu):7.1f}ms "
            f"{statistics.median(took):7.1f}ms {sum(cpu) / confirmed:8.1f}ms"
        )
    total = sum(cpu for spans in runs.values() for cpu, _ in spans) / confirmed
    lines.append(f"  {'all requests and task runs':<60} {total:26.1f}ms")
    return lines


def summary(args: argparse.Namespace, report: dict, cpu: list[str]) -> str:
    a = args
    tracing = "off" if "OTEL_SDK_DISABLED=true" in a.env else "on"
    settings = f"; {' '.join(a.env)}" if a.env else ""
    ms = report["checkout_ms"]
    confirm = report["confirmation_ms"]
    rate = report["confirmed_per_second"]
    return "\n".join(
        [
            "",
            "=== throughput ===",
            f"stack: gunicorn config.wsgi -k gthread --threads {a.threads} -w {a.workers}; one Celery worker "
            f"(prefork, concurrency 2); private Redis; PostgreSQL {postgres_version(a.postgres)}; "
            f"tracing {tracing}{settings}",
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
            *cpu,
            "invariants: " + ("PASS" if report["passed"] else "FAIL"),
        ]
    )


def main() -> int:
    args = parse_args()
    redis = PrivateRedis()
    env = dict(setting.split("=", 1) for setting in args.env)
    stack = Stack(
        postgres=args.postgres, broker_url=redis.url, env=env, workers=args.workers, threads=args.threads
    )
    try:
        stack.prepare(stock_units=2 * args.orders)  # a basket holds a SKU once, 2 units at most
        stack.start()
        postgres_pid = postgres_server_pid(args.postgres)
        before = cpu_snapshot(stack, postgres_pid)
        returncode, report = simulate(stack, args)
        cpu = cpu_lines(before, cpu_snapshot(stack, postgres_pid), report["confirmed"])
        stack.stop()  # every span batch flushed before the store is read
        cpu += cpu_by_operation(stack.store, report["confirmed"])
        print(summary(args, report, cpu))
        return returncode
    except StackError as exc:
        print(f"the stack did not start: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.close(keep_logs=args.keep_logs)
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
