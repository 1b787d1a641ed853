"""Sampling cost benchmark (issues 9 and 15): what tracing adds to the checkout's latency
and to an order's CPU.

Measures checkout latency p50 and p95, and the web and worker processes' CPU per order,
under gunicorn with tracing off, on at 100 % (every trace kept and stored) and on with the
production profile (the default head rules, 10 % for any other root, tail retention on with
its defaults), interleaved in one run: each round starts the three profiles' stacks one
after another (the order rotates every round, so drift on the machine hits each profile
alike), warms each up, then times a fixed number of checkouts from a few concurrent
clients, client-side, with ``time.perf_counter`` around ``POST /api/shop/checkout/``. The
CPU is what gunicorn and the Celery worker (their children included) spent from the first
timed checkout until its orders were settled and their spans exported. It prints the
medians over the rounds, their ratios to "off" from this same run next to the issues'
targets, and the spans stored per confirmed order under each profile. A measurement, not a
test: a missed target is reported, and the exit status is non-zero only when a stack does
not start. Run on demand:

    .venv/bin/python bench/sampling_cost.py --rounds 3 --orders 60 --concurrency 4
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from subprocess import CalledProcessError

import psycopg
import requests

# bench/stack.py puts the project on sys.path (a script's path holds only bench/), so it is
# imported before any project module.
from stack import DEFAULT_POSTGRES, Stack, StackError, machine, postgres_version

from devstack.broker import PrivateRedis
from shop.demo import CATALOGUE

CHECKOUT_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
# Longer than the span exporter's schedule delay (OTEL_BSP_SCHEDULE_DELAY, 5 s by default):
# waited before the CPU is read at each end, so a batch's own spans are exported inside its
# window and the warm-up's outside it.
EXPORT_SETTLE_SECONDS = 6.0
TERMINAL = ("confirmed", "failed")
# Every variable that decides sampling: removed from the inherited environment, so that a
# profile's setting left out takes its default, whatever the shell running the bench says.
SAMPLING_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "TELEMETRY_ENABLED",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "TELEMETRY_SAMPLE_RATE",
    "TELEMETRY_SAMPLING_RULES",
    "TELEMETRY_TIER_MULTIPLIERS",
    "TELEMETRY_TAIL_SAMPLING",
    "TELEMETRY_TAIL_DECISION_WAIT",
    "TELEMETRY_TAIL_SLOW_MS",
    "TELEMETRY_TAIL_SLOW_SHARE",
    "TELEMETRY_TAIL_BASE_SHARE",
)


@dataclass(frozen=True)
class Profile:
    name: str
    env: dict[str, str]
    description: str
    target: float | None  # the issue's bound on latency as a multiple of "off"
    tail: bool = False  # tail retention on: decide the traces before counting spans


PROFILES = (
    Profile("off", {"OTEL_SDK_DISABLED": "true"}, "tracing off (OTEL_SDK_DISABLED=true)", None),
    Profile(
        "100 %",
        {"TELEMETRY_SAMPLING_RULES": "", "TELEMETRY_SAMPLE_RATE": "1.0"},
        "every trace kept and stored (TELEMETRY_SAMPLING_RULES='', TELEMETRY_SAMPLE_RATE=1.0, "
        "no tail retention)",
        1.05,
    ),
    Profile(
        "production",
        {"TELEMETRY_SAMPLE_RATE": "0.1", "TELEMETRY_TAIL_SAMPLING": "true"},
        "default head rules (checkout 1.0, noise 0-5 %), TELEMETRY_SAMPLE_RATE=0.1 for any other "
        "root, TELEMETRY_TAIL_SAMPLING=true with the default wait, thresholds, shares and tiers",
        1.02,
        tail=True,
    ),
)
# --split: tracing at 100 % with every exporter off, which parts tracing's cost into making
# spans (instrumentation, SDK, processors, propagation) and exporting them (redaction, the
# store's writes, the metric rows and log records).
UNEXPORTED = Profile(
    "unexported",
    {
        "TELEMETRY_SAMPLING_RULES": "",
        "TELEMETRY_SAMPLE_RATE": "1.0",
        "TELEMETRY_SPAN_EXPORTER": "",
        "TELEMETRY_METRICS_EXPORTER": "",
        "TELEMETRY_LOG_EXPORTER": "",
    },
    "every trace recorded as at 100 %, exported nowhere (TELEMETRY_SPAN_EXPORTER, "
    "TELEMETRY_METRICS_EXPORTER and TELEMETRY_LOG_EXPORTER empty): making spans, without storing",
    None,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--orders", type=int, default=60, help="timed checkouts per profile per round (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds; each runs every profile once, in a rotated order (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="concurrent clients, one checkout in flight each (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=8,
        help="untimed checkouts after each start, so imports and connections are paid before timing "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120,
        help="seconds to wait for a batch's orders to be confirmed or failed (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the baskets (default: %(default)s)")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="a PostgreSQL server's maintenance database, where the three profiles' databases are "
        "created and dropped (default: %(default)s)",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="add the 'unexported' profile: 100 %% recorded, exported nowhere, to tell what making "
        "spans costs from what exporting and storing them costs",
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep each profile's directory (process logs, span store) and print where",
    )
    return parser.parse_args()


# --- the clients ------------------------------------------------------------------------------


@dataclass
class Batch:
    """What one batch of checkouts measured."""

    latencies_ms: list[float] = field(default_factory=list)  # accepted checkouts (202) only
    refused: int = 0  # answered, not 202
    errors: int = 0  # no answer
    not_terminal: int = 0  # orders still open when the wait ended
    cpu_seconds: float = 0.0  # gunicorn's and the worker's, from the first checkout to the flush

    @property
    def cpu_ms_per_order(self) -> float:
        """Web + worker CPU per accepted checkout; NaN when nothing was accepted."""
        return self.cpu_seconds * 1000 / len(self.latencies_ms) if self.latencies_ms else math.nan

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile; NaN when nothing was accepted."""
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan


def baskets(count: int, seed: int) -> list[list[dict]]:
    """``count`` baskets of 1-3 different SKUs, 1-2 units each (as the simulator's)."""
    rng, skus = random.Random(seed), sorted(sku for sku, *_ in CATALOGUE)
    return [
        [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in rng.sample(skus, rng.randint(1, 3))]
        for _ in range(count)
    ]


def checkouts(url: str, items: list[list[dict]], concurrency: int, tag: str) -> Batch:
    """POST one checkout per basket from ``concurrency`` threads, timing each client-side."""
    batch, local, lock = Batch(), threading.local(), threading.Lock()

    def one(index: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()  # a Session per thread: keep-alive, not shared
        body = {
            "items": items[index],
            "email": f"bench-{tag}-{index}@example.com",
            "payment": {"method": "card", "token": "tok_ok"},
        }
        started = time.perf_counter()
        try:
            response = local.session.post(f"{url}/api/shop/checkout/", json=body, timeout=CHECKOUT_TIMEOUT)
        except requests.RequestException:
            with lock:
                batch.errors += 1
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        with lock:
            if response.status_code == 202:
                batch.latencies_ms.append(elapsed_ms)
            else:
                batch.refused += 1

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(len(items))))
    return batch


def open_orders(stack: Stack, timeout: float) -> int:
    """Wait until every order of the stack is confirmed or failed (read from its database,
    not over HTTP, so the wait adds no requests); the orders still open at the deadline."""
    deadline = time.monotonic() + timeout
    with stack.connect() as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM orders_order WHERE status <> ALL(%s)", [list(TERMINAL)])
            still = row.fetchone()
            open_count = still[0] if still else 0
            if open_count == 0 or time.monotonic() >= deadline:
                return open_count
            time.sleep(0.25)


# --- the run ----------------------------------------------------------------------------------


def phase(stack: Stack, args: argparse.Namespace, round_index: int) -> Batch:
    """Start the stack, warm it up, time one batch, wait for its orders, stop the stack."""
    stack.start(beat=True)  # as deployed: beat runs the periodic tasks (tail decisions too)
    try:
        tag = f"{round_index}"
        warm = baskets(args.warmup, seed=args.seed * 1000 + round_index)
        checkouts(stack.url, warm, args.concurrency, tag=f"warm{tag}")
        open_orders(stack, args.timeout)  # the worker too is warm, and idle, before timing
        time.sleep(EXPORT_SETTLE_SECONDS)
        timed = baskets(args.orders, seed=args.seed * 1000 + 500 + round_index)  # alike for each profile
        before = shop_cpu_seconds(stack)
        batch = checkouts(stack.url, timed, args.concurrency, tag=tag)
        batch.not_terminal = open_orders(stack, args.timeout)
        time.sleep(EXPORT_SETTLE_SECONDS)
        batch.cpu_seconds = shop_cpu_seconds(stack) - before
        return batch
    finally:
        stack.stop()


def shop_cpu_seconds(stack: Stack) -> float:
    """CPU used so far by the web server and the worker (beat, which runs the periodic tasks
    whatever the load, is left out)."""
    used = stack.cpu_seconds()
    return used["gunicorn"] + used["worker"]


def profiles_of(args: argparse.Namespace) -> tuple[Profile, ...]:
    return (*PROFILES, UNEXPORTED) if args.split else PROFILES


def rotated(profiles: tuple[Profile, ...], round_index: int) -> list[Profile]:
    """The profiles in this round's order: each takes every position in turn."""
    shift = round_index % len(profiles)
    return list(profiles[shift:] + profiles[:shift])


def run_rounds(stacks: dict[str, Stack], args: argparse.Namespace) -> dict[str, list[Batch]]:
    profiles = profiles_of(args)
    results: dict[str, list[Batch]] = {profile.name: [] for profile in profiles}
    started = time.monotonic()
    for index in range(args.rounds):
        order = rotated(profiles, index)
        for profile in order:
            results[profile.name].append(phase(stacks[profile.name], args, index))
        last = {p.name: results[p.name][-1] for p in order}
        parts = [
            f"{name} p50 {b.percentile(50):.0f} p95 {b.percentile(95):.0f} ms, "
            f"CPU {b.cpu_ms_per_order:.0f} ms/order"
            for name, b in last.items()
        ]
        elapsed = time.monotonic() - started
        print(f"round {index + 1}/{args.rounds}: " + " | ".join(parts) + f" ({elapsed:.0f} s)", flush=True)
    return results


@dataclass(frozen=True)
class Stored:
    spans: int
    traces: int
    confirmed: int

    @property
    def per_order(self) -> float:
        return self.spans / self.confirmed if self.confirmed else math.nan


def stored(stack: Stack, profile: Profile) -> Stored:
    """The spans and traces left in the profile's span store, once tail retention (if on) has
    decided every trace, and its confirmed orders."""
    if profile.tail:
        stack.manage("decide_traces", "--wait", "0", "--batch", "1000000")
    with sqlite3.connect(stack.store) as store:
        spans = store.execute("SELECT count(*) FROM telemetry_span").fetchone()[0]
        traces = store.execute("SELECT count(DISTINCT trace_id) FROM telemetry_span").fetchone()[0]
    with stack.connect() as conn:
        row = conn.execute("SELECT count(*) FROM orders_order WHERE status = 'confirmed'").fetchone()
    return Stored(spans=spans, traces=traces, confirmed=row[0] if row else 0)


# --- the report -------------------------------------------------------------------------------


def median_of(batches: list[Batch], p: float) -> float:
    return statistics.median(batch.percentile(p) for batch in batches)


def median_cpu(batches: list[Batch]) -> float:
    return statistics.median(batch.cpu_ms_per_order for batch in batches)


def verdict(ratios: list[float], target: float | None) -> str:
    if target is None:
        return ""
    if any(math.isnan(ratio) for ratio in ratios):
        return "no measurement"
    return "met" if max(ratios) <= target else "NOT met"


def report(
    args: argparse.Namespace, stack: Stack, results: dict[str, list[Batch]], counts: dict[str, Stored]
) -> str:
    profiles = profiles_of(args)
    off50, off95 = median_of(results["off"], 50), median_of(results["off"], 95)
    off_cpu = median_cpu(results["off"])
    lines = [
        "",
        "=== sampling cost ===",
        f"machine: {machine()}",
        f"stack: gunicorn config.wsgi -k gthread --threads {stack.threads} -w {stack.workers}; "
        "one Celery worker (prefork, "
        f"concurrency 2); beat; private Redis; PostgreSQL {postgres_version(args.postgres)}; span store "
        "SQLite; one database per profile, processes restarted for every batch",
        f"run: {args.rounds} rounds x {args.orders} timed checkouts per profile (after {args.warmup} "
        f"untimed), {args.concurrency} concurrent clients, seed {args.seed}; profile order rotated "
        "each round",
        "profiles:",
        *(f"  {p.name:<11} {p.description}" for p in profiles),
        "",
        f"{'profile':<11} {'p50 ms':>7} {'p95 ms':>7} {'p50/off':>8} {'p95/off':>8} {'CPU ms/order':>12} "
        f"{'CPU/off':>8}  {'target':<13} {'spans/order':>11}",
    ]
    for p in profiles:
        batches, count = results[p.name], counts[p.name]
        p50, p95, cpu = median_of(batches, 50), median_of(batches, 95), median_cpu(batches)
        target = f"<= {p.target:.2f} x off" if p.target else "-"
        lines.append(
            f"{p.name:<11} {p50:>7.0f} {p95:>7.0f} {p50 / off50:>8.3f} {p95 / off95:>8.3f} {cpu:>12.1f} "
            f"{cpu / off_cpu:>8.3f}  {target:<13} {count.per_order:>11.1f}"
        )
    lines += [
        "",
        "per round (p50/p95 ms, CPU ms per order; in round order; the medians above are over these):",
    ]
    for p in profiles:
        rounds = ", ".join(
            f"{b.percentile(50):.0f}/{b.percentile(95):.0f} {b.cpu_ms_per_order:.0f}" for b in results[p.name]
        )
        lines.append(f"  {p.name:<11} {rounds}")
    lines += ["", "stored after the run (tail retention's decisions made first where it is on):"]
    for p in profiles:
        c, batches = counts[p.name], results[p.name]
        refused, errors = sum(b.refused for b in batches), sum(b.errors for b in batches)
        still = sum(b.not_terminal for b in batches)
        lines.append(
            f"  {p.name:<11} {c.spans} spans in {c.traces} traces for {c.confirmed} confirmed orders "
            f"(warm-ups included); timed checkouts refused {refused}, unanswered {errors}, "
            f"orders left open {still}"
        )
    lines += ["", *targets(results, off50, off95, off_cpu)]
    return "\n".join(lines)


def targets(results: dict[str, list[Batch]], off50: float, off95: float, off_cpu: float) -> list[str]:
    """One plain sentence per target and issue: met or not, with the figures that decide it.
    Issue 9 bounds the latency (p50 and p95), issue 15 the cost (CPU per order and p50)."""
    sentences = []
    for p in PROFILES:
        if p.target is None:
            continue
        batches = results[p.name]
        r50, r95 = median_of(batches, 50) / off50, median_of(batches, 95) / off95
        rcpu = median_cpu(batches) / off_cpu
        sentences.append(
            f"target {p.name} (latency, issue 9): at most {p.target:.2f} x off at p50 and p95; measured "
            f"{r50:.3f} and {r95:.3f}: {verdict([r50, r95], p.target)}"
        )
        sentences.append(
            f"target {p.name} (cost, issue 15): at most {p.target:.2f} x off in CPU per order and p50; "
            f"measured {rcpu:.3f} and {r50:.3f}: {verdict([rcpu, r50], p.target)}"
        )
    return sentences


def main() -> int:
    args = parse_args()
    redis = PrivateRedis()
    stacks: dict[str, Stack] = {}
    try:
        for db, profile in enumerate(profiles_of(args), start=1):  # a Redis database each: no message crosses
            stacks[profile.name] = Stack(
                postgres=args.postgres,
                broker_url=redis.url.rsplit("/", 1)[0] + f"/{db}",
                env=profile.env,
                unset=SAMPLING_VARIABLES,
                name=f"sampling_{profile.name.replace(' %', '').replace(' ', '_')}",
            )
        first, *others = stacks.values()
        first.prepare(stock_units=2 * args.rounds * (args.orders + args.warmup))
        for other in others:
            other.prepare_from(first)
        results = run_rounds(stacks, args)
        counts = {p.name: stored(stacks[p.name], p) for p in profiles_of(args)}
        print(report(args, first, results, counts))
        return 0
    except (StackError, CalledProcessError, psycopg.Error) as exc:
        print(f"a stack did not start: {exc}", file=sys.stderr)
        return 2
    finally:
        for stack in stacks.values():
            stack.close(keep_logs=args.keep_logs)
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
