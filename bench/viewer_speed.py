"""Viewer speed benchmark: the trace viewer's pages on a store of a million spans.

For SQLite and for PostgreSQL in turn: creates a fresh span store, fills it with
``manage.py generate_traces`` (synthetic checkout traces through the store's own write
path, index included), then times the pages an engineer opens, as the server spends it
(Django's test client in one process: middleware, view, queries and template; no network):

- a trace of about 200 spans (``/traces/<id>/``), target under 100 ms;
- a search with an attribute filter (``/traces/?attr=…``), target under 300 ms;
- the metrics page (``/traces/metrics/``, its default window), target under 500 ms;

and, for information, a few more (other filters, a longer metrics window, the service
graph). Each page is opened once to warm the caches, then ``--runs`` times; the median and
the slowest are printed with their ratio to the target. Run on demand, not by the suite:

    .venv/bin/python bench/viewer_speed.py --spans 1000000

``--large-traces N`` times instead the pages of two traces of N spans each, in a fresh
SQLite store holding only them (stored straight through the index, as with the ingest
caps raised): one request with N children (``synthetic.builders.flooded``), a chain N
deep (``deep``) and an import of N/100 batches of 99 INSERTs, one failing (``bulk_import``:
the page opens folded). For each: the trace page's server time, HTML size and rows sent,
and the diagnosis (``analyze``) and the critical path alone, median of ``--runs``:

    .venv/bin/python bench/viewer_speed.py --large-traces 20000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: bench/ is on the path, the project is not

# (label, target in ms or None for "for information")
TARGET_MS = {"trace": 100, "search by attribute": 300, "metrics": 500, "metrics, 24 h": 500}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--spans", type=int, default=1_000_000, help="spans in the store (default: %(default)s)"
    )
    parser.add_argument(
        "--hours",
        type=float,
        default=24.0,
        help="the generated traces' start times span this many hours up to now (default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs per page (default: %(default)s)")
    parser.add_argument(
        "--databases",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default: %(default)s)",
    )
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server's maintenance database, where the bench store is created and "
        "dropped (default: %(default)s)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="time an existing, already filled store (a TELEMETRY_DATABASE_URL) instead of "
        "creating and filling new ones",
    )
    parser.add_argument(
        "--large-traces",
        type=int,
        default=0,
        metavar="N",
        help="time the pages of a trace of N children under one span and of a chain N deep, "
        "instead of a filled store (SQLite only)",
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child's role
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.measure:
        result = measure_large(args.large_traces, args.runs) if args.large_traces else measure(args.runs)
        print(json.dumps(result))
        return 0
    print(f"machine: {machine()}; Python {platform.python_version()}")
    if args.large_traces:
        with fresh_store("sqlite", args) as (url, label):
            report_large(label, run_child(url, args), args)
        return 0
    if args.store:
        report(args.store, run_child(args.store, args), args)
        return 0
    for database in args.databases.split(","):
        with fresh_store(database.strip(), args) as (url, label):
            started = time.perf_counter()
            fill(url, args)
            print(f"{label}: filled in {time.perf_counter() - started:.0f} s")
            report(label, run_child(url, args), args)
    return 0


class fresh_store:
    """An empty, migrated span store of one kind; removed again on exit."""

    def __init__(self, kind: str, args: argparse.Namespace) -> None:
        self.kind, self.args = kind, args
        self.var = Path(tempfile.mkdtemp(prefix="threadline-viewer-bench-"))
        self.database = f"threadline_viewer_bench_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> tuple[str, str]:
        if self.kind == "sqlite":
            url, label = f"sqlite:///{self.var / 'traces.sqlite3'}", "SQLite"
        elif self.kind == "postgres":
            import psycopg

            with psycopg.connect(self.args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
                row = conn.execute("SHOW server_version").fetchone()
                assert row is not None  # SHOW always answers one row
                version = row[0]
            url = urlunsplit(urlsplit(self.args.postgres)._replace(path=f"/{self.database}"))
            label = f"PostgreSQL {version}"
        else:
            raise SystemExit(f"unknown database {self.kind!r}: use sqlite or postgres")
        manage(url, self.var, "migrate", "--database", "telemetry", "--no-input", "-v", "0")
        return url, label

    def __exit__(self, *exc) -> None:
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(self.args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.var, ignore_errors=True)


_SECRET_KEY = secrets.token_urlsafe(50)
_SERVICE_TOKEN = secrets.token_urlsafe(32)


def environment(store_url: str, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TELEMETRY_DATABASE_URL": store_url,
        "THREADLINE_VAR_DIR": str(var),  # the shop's own database: a SQLite file in there
        "DJANGO_DEBUG": "false",
        # Production refuses the public dev secrets: this run's own, one for all its processes.
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or _SECRET_KEY,
        "THREADLINE_SERVICE_TOKEN": os.environ.get("THREADLINE_SERVICE_TOKEN") or _SERVICE_TOKEN,
        "DJANGO_ALLOWED_HOSTS": "testserver",  # the measuring child's test client
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # which speaks plain HTTP
    }


def manage(store_url: str, var: Path, *command: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=environment(store_url, var), check=True
    )


def fill(store_url: str, args: argparse.Namespace) -> None:
    var = Path(tempfile.mkdtemp(prefix="threadline-viewer-bench-shop-"))
    try:
        manage(store_url, var, "generate_traces", "--spans", str(args.spans), "--hours", str(args.hours))
    finally:
        shutil.rmtree(var, ignore_errors=True)


def run_child(store_url: str, args: argparse.Namespace) -> dict:
    var = Path(tempfile.mkdtemp(prefix="threadline-viewer-bench-shop-"))
    try:
        manage(store_url, var, "migrate", "--no-input", "-v", "0")  # the staff user's database
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                "--runs",
                str(args.runs),
                "--large-traces",
                str(args.large_traces),
            ],
            cwd=ROOT,
            env=environment(store_url, var),
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        shutil.rmtree(var, ignore_errors=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(runs: int) -> dict:
    """In the child, with Django set up on the bench store: times each page."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from instrumentation.context import untraced
    from telemetry.models import Span, Trace, TraceAttribute

    with untraced():
        spans = Span.objects.count()
        traces = Trace.objects.count()
        big = min(
            Trace.objects.filter(span_count__gte=150).order_by("-start_ns")[:500],
            key=lambda trace: abs(trace.span_count - 200),
        )
        orders = TraceAttribute.objects.filter(key="order.id").order_by("-id")
        order = orders.values_list("value", flat=True)[500]  # an order of some hours ago
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    pages = {
        "trace": f"/traces/{big.trace_id}/",
        "search by attribute": "/traces/?" + urlencode({"attr": f"order.id={order}"}),
        "metrics": "/traces/metrics/",
        "search by route, errors only": "/traces/?"
        + urlencode({"attr": "http.route=api/orders/<uuid:order_id>/place/", "errors": "on"}),
        "search by service and operation, slowest": "/traces/?"
        + urlencode({"service": "payments", "operation": "capture", "sort": "slowest"}),
        "search, no filter, page 50": "/traces/?page=50",
        "metrics, 24 h": "/traces/metrics/?window=24h",
        "service graph": "/traces/services/",
    }
    timings = {}
    for label, url in pages.items():
        response = client.get(url)  # warm-up, and a check that the page works
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
        timings[label] = {"url": url, "median_ms": statistics.median(samples), "max_ms": max(samples)}
    return {"spans": spans, "traces": traces, "trace_spans": big.span_count, "pages": timings}


def measure_large(size: int, runs: int) -> dict:
    """In the child: stores the two large traces, then times their page and diagnosis."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from instrumentation.context import untraced
    from synthetic.builders import bulk_import, deep, flooded, trace_id
    from telemetry.diagnosis.analysis import analyze
    from telemetry.diagnosis.critical_path import critical_path
    from telemetry.selectors import trace_spans
    from telemetry.store.index import save_spans

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    results = {}

    def batches(size: int):
        return bulk_import(batches=max(size // 100, 2))

    builds = (
        ("one span with N children", flooded),
        ("a chain N deep", deep),
        ("N/100 batches, folded", batches),
    )
    for label, build in builds:
        trace = build(size)
        trace.trace_id = trace_id(build.__name__)
        for span in trace.spans:
            span.trace_id = trace.trace_id
        with untraced():
            save_spans(trace.spans)
            spans = trace_spans(trace.trace_id)
        url = f"/traces/{trace.trace_id}/"
        timings: dict[str, list[float]] = {"page": [], "analyze": [], "critical path": []}
        size_bytes = rows_sent = 0
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url)
            timings["page"].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            size_bytes = len(response.content)
            rows_sent = response.content.count(b'class="span-row')
            started = time.perf_counter()
            analyze(spans)
            timings["analyze"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            critical_path(spans)
            timings["critical path"].append((time.perf_counter() - started) * 1000)
        results[label] = {
            "spans": len(spans),
            "html_bytes": size_bytes,
            "rows_sent": rows_sent,
            **{name: statistics.median(samples) for name, samples in timings.items()},
        }
    return results


def report_large(label: str, result: dict, args: argparse.Namespace) -> None:
    print(f"\n{label}: two traces of {args.large_traces} spans; median of {args.runs} runs, server time")
    for trace, figures in result.items():
        print(
            f"  {trace:<26} page {figures['page']:9.1f} ms, {figures['html_bytes'] / 1e6:6.2f} MB of HTML, "
            f"{figures['rows_sent']:5d} rows; "
            f"analyze {figures['analyze']:9.1f} ms; critical path {figures['critical path']:8.1f} ms"
        )


def report(label: str, result: dict, args: argparse.Namespace) -> None:
    print(
        f"\n{label}: {result['spans']} spans in {result['traces']} traces; "
        f"median and slowest of {args.runs} runs, server time"
    )
    for page, timing in result["pages"].items():
        name = f"{page} ({result['trace_spans']} spans)" if page == "trace" else page
        target = TARGET_MS.get(page)
        verdict = (
            f"target {target} ms: {timing['median_ms'] / target:.2f} of it"
            + (" ok" if timing["max_ms"] < target else " MISSED")
            if target
            else "(for information)"
        )
        print(f"  {name:<45} {timing['median_ms']:8.1f} ms  max {timing['max_ms']:8.1f} ms  {verdict}")


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return f"{os.cpu_count()} CPUs {model}".strip()


if __name__ == "__main__":
    raise SystemExit(main())
