"""Dev server benchmark (issue 15): single-client checkout latency under ``make run``.

Runs the shop as ``make run`` does (DEBUG on, tracing on, SQLite shop database and span
store, one Celery worker, a private Redis) with two web servers in turn, interleaved in one
run: Django's stock ``runserver`` (the before) and the project's ``manage.py runserver``
(devstack's, whose sockets have ``TCP_NODELAY``: the after). Each round starts each server
on the same data, makes a few untimed checkouts, then times ``--orders`` checkouts made one
after another by one client, client-side, with ``time.perf_counter`` around ``POST
/api/shop/checkout/``. It prints the median over the rounds of each server's p50 and p95,
the ratio after / before from this run, and the target (p50 at most 60 ms). A measurement,
not a test: the exit status is non-zero only when a stack does not start. Run on demand:

    .venv/bin/python bench/devserver.py --rounds 3 --orders 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import requests

# bench/stack.py puts the project on sys.path (a script's path holds only bench/), so it is
# imported before any project module.
from stack import Stack, StackError, machine

from devstack.broker import PrivateRedis
from shop.demo import CATALOGUE

CHECKOUT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
TARGET_P50_MS = 60.0  # the bound on the dev server's checkout median
SERVERS = {"before": "stock-runserver", "after": "runserver"}  # bench/stack.py's SERVERS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds, each server once per round (default: %(default)s)"
    )
    parser.add_argument(
        "--orders", type=int, default=40, help="timed checkouts per server per round (default: %(default)s)"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="untimed checkouts before timing (default: %(default)s)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the stack's processes, e.g. OTEL_SDK_DISABLED=true to see the servers "
        "without tracing's cost; may be repeated",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the processes' logs (printed at the end)"
    )
    return parser.parse_args()


def checkout_ms(session: requests.Session, url: str, index: int) -> float:
    """One checkout of two demo products, timed; it must be accepted (202)."""
    body = {
        "items": [{"sku": sku, "quantity": 1} for sku, *_ in CATALOGUE[index % 3 : index % 3 + 2]],
        "email": f"devserver-{index}@example.com",
        "payment": {"method": "card", "token": "tok_ok"},
    }
    started = time.perf_counter()
    response = session.post(f"{url}/api/shop/checkout/", json=body, timeout=CHECKOUT_TIMEOUT)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 202:
        raise RuntimeError(f"checkout answered {response.status_code}: {response.text[:200]}")
    return elapsed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(stack: Stack, server: str, args: argparse.Namespace, first: int) -> list[float]:
    """Start ``server`` on the stack, warm it up, time ``--orders`` checkouts, stop it."""
    stack.start(server=server)
    try:
        with requests.Session() as session:  # one client, one keep-alive connection
            for index in range(first, first + args.warmup):
                checkout_ms(session, stack.url, index)
            start = first + args.warmup
            return [checkout_ms(session, stack.url, index) for index in range(start, start + args.orders)]
    finally:
        stack.stop()


def report(rounds: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> str:
    p50 = {name: statistics.median(p for p, _ in figures) for name, figures in rounds.items()}
    p95 = {name: statistics.median(p for _, p in figures) for name, figures in rounds.items()}
    tracing = "off" if "OTEL_SDK_DISABLED=true" in args.env else "on"
    settings = f"; {' '.join(args.env)}" if args.env else ""
    lines = [
        "",
        "=== dev server: single-client checkout under make run's stack ===",
        f"stack: DJANGO_DEBUG=true, tracing {tracing}, SQLite shop database and span store, one Celery "
        f"worker (prefork, concurrency 2), private Redis; servers without the autoreloader{settings}",
        f"machine: {machine()}",
        f"run: {args.rounds} rounds x {args.orders} checkouts per server, one client, after "
        f"{args.warmup} untimed",
        "",
        f"{'server':<42} {'p50 ms':>7} {'p95 ms':>7}",
    ]
    labels = {
        "before": "before: Django's runserver (no TCP_NODELAY)",
        "after": "after: manage.py runserver (devstack)",
    }
    for name in rounds:
        lines.append(f"{labels[name]:<42} {p50[name]:7.1f} {p95[name]:7.1f}")
    met = "met" if p50["after"] <= TARGET_P50_MS else "NOT met"
    lines += [
        "",
        f"after / before: p50 {p50['after'] / p50['before']:.2f}, p95 {p95['after'] / p95['before']:.2f}",
        f"target: after p50 <= {TARGET_P50_MS:.0f} ms: {met}",
        "per round (p50/p95 ms): "
        + "; ".join(
            f"{name} " + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in figures) for name, figures in rounds.items()
        ),
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    redis = PrivateRedis()
    per_round = args.warmup + args.orders
    env = {"DJANGO_DEBUG": "true", **dict(setting.split("=", 1) for setting in args.env)}
    stack = Stack(postgres=None, broker_url=redis.url, env=env, name="devserver")
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in SERVERS}
    try:
        stack.prepare(stock_units=2 * per_round * args.rounds * len(SERVERS))
        first = 0
        for number in range(args.rounds):
            order = list(SERVERS) if number % 2 == 0 else list(reversed(SERVERS))  # drift hits both
            for name in order:
                timings = measure(stack, SERVERS[name], args, first)
                first += per_round
                p50, p95 = percentile(timings, 0.5), percentile(timings, 0.95)
                rounds[name].append((p50, p95))
                print(f"round {number + 1} {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
        print(report(rounds, args))
        return 0
    except StackError as exc:
        print(f"the stack did not start: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.close(keep_logs=args.keep_logs)
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
