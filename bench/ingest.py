"""Ingest benchmark: spans per second through the span store's real write path.

For SQLite and for PostgreSQL in turn, in a fresh, migrated span store: exports copies of a
recorded confirmed order's trace (``bench/data/confirmed_order_trace.json``: the 34 spans
a storefront order stored under ``make run``, as ``manage.py trace --order ID --json``
prints them, attributes, resources and links as recorded; fresh ids for each copy) through
``StoreSpanExporter.export`` in batches of ``--batch`` spans, as the batch
span processor hands them over (conversion from SDK spans, the tail-retention lookup, the
spans, their search index and the trace summaries, one transaction per batch). Then, in
the emptied store, the same spans through a plain ``cursor.executemany`` per table into
the same tables and indexes (conversion included, no lookups): the ceiling a write path
in Python can reach. Prints spans/s of both, their ratio, and the longest single export
(how long one export holds the exporting thread and, while it runs Python, the GIL).
Targets (issue 15): 20,000 spans/s on SQLite, 15,000 on PostgreSQL. Run on demand:

    .venv/bin/python bench/ingest.py --spans 40000 --batch 512,64
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# bench/stack.py puts the project on sys.path (a script's path holds only bench/), so it is
# imported before any project module.
from stack import ROOT, machine

TARGET = {"sqlite": 20_000, "postgres": 15_000}  # spans/s through the exporter
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/threadline_ingest_bench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--spans", type=int, default=40_000, help="spans written per measurement (default: %(default)s)"
    )
    parser.add_argument(
        "--batch",
        default="512,64",
        help="comma-separated export batch sizes to measure: 512 is the SDK's default "
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE (default: %(default)s)",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default: %(default)s)",
    )
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="the PostgreSQL database to create for the run and drop after it; it must not "
        "exist, and the role must be allowed to create databases (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measurements of each path per batch size, alternated; the best is printed "
        "(default: %(default)s)",
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child's role
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    batches = [int(size) for size in args.batch.split(",")]
    if args.measure:
        print(json.dumps(measure(args.spans, batches, args.rounds)))
        return 0
    print(f"machine: {machine()}")
    print(
        f"{args.spans} spans per measurement, copies of a {TEMPLATE_NOTE}; best of {args.rounds} "
        "alternated rounds; per CPU-s: spans per second of this process's CPU (the PostgreSQL "
        "server's not counted); ratio: exporter / executemany, elapsed"
    )
    header = (
        f"{'engine':<16} {'batch':>5} | {'exporter spans/s':>16} {'per CPU-s':>9} | "
        f"{'executemany spans/s':>19} {'per CPU-s':>9} | {'ratio':>5} | {'longest export':>14} "
        f"{'its CPU':>8} | target (exporter spans/s)"
    )
    print(header)
    for kind in args.databases.split(","):
        with fresh_store(kind.strip(), args.postgres) as (url, var, label):
            result = run_child(url, var, args)
        target = TARGET[kind.strip()]
        for size, figures in result["batches"].items():
            exporter, ceiling = figures["exporter"], figures["ceiling"]
            ratio = exporter["wall"] / ceiling["wall"]
            print(
                f"{label:<16} {size:>5} | {exporter['wall']:>16,.0f} {exporter['cpu']:>9,.0f} | "
                f"{ceiling['wall']:>19,.0f} {ceiling['cpu']:>9,.0f} | {ratio:>5.2f} | "
                f"{figures['longest_export_ms']:>11.1f} ms {figures['longest_export_cpu_ms']:>5.1f} ms | "
                f"{target:,}: {exporter['wall'] / target:.2f} of it"
            )
    return 0


TEMPLATE_NOTE = "recorded confirmed order's trace (fresh ids per copy)"


class fresh_store:
    """An empty span store of one kind, migrated; removed again on exit."""

    def __init__(self, kind: str, postgres: str) -> None:
        self.kind, self.postgres = kind, postgres
        self.var = Path(tempfile.mkdtemp(prefix="threadline-ingest-bench-"))

    def __enter__(self) -> tuple[str, Path, str]:
        if self.kind == "sqlite":
            url, label = f"sqlite:///{self.var / 'traces.sqlite3'}", "SQLite"
        elif self.kind == "postgres":
            import psycopg

            with psycopg.connect(self._server(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self._name()}"')
                row = conn.execute("SHOW server_version").fetchone()
                assert row is not None  # SHOW always answers one row
            url, label = self.postgres, f"PostgreSQL {row[0].split()[0]}"
        else:
            raise SystemExit(f"unknown database {self.kind!r}: use sqlite or postgres")
        manage(url, self.var, "migrate", "--database", "telemetry", "--no-input", "-v", "0")
        return url, self.var, label

    def __exit__(self, *exc) -> None:
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(self._server(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._name()}" WITH (FORCE)')
        shutil.rmtree(self.var, ignore_errors=True)

    def _name(self) -> str:
        return urlsplit(self.postgres).path.lstrip("/")

    def _server(self) -> str:
        """The server's maintenance database, where ours is created and dropped from."""
        return urlunsplit(urlsplit(self.postgres)._replace(path="/postgres"))


_SECRET_KEY = secrets.token_urlsafe(50)
_SERVICE_TOKEN = secrets.token_urlsafe(32)


def environment(store_url: str, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TELEMETRY_DATABASE_URL": store_url,
        "THREADLINE_VAR_DIR": str(var),  # the shop's own database: a SQLite file in there
        "DJANGO_DEBUG": "false",  # no query log: as deployed
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or _SECRET_KEY,
        "THREADLINE_SERVICE_TOKEN": os.environ.get("THREADLINE_SERVICE_TOKEN") or _SERVICE_TOKEN,
        "DJANGO_ALLOWED_HOSTS": "localhost",  # production settings want one; nothing is served
        "TELEMETRY_ENABLED": "false",  # the child exports by hand; it traces nothing itself
    }


def manage(store_url: str, var: Path, *command: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=environment(store_url, var), check=True
    )


def run_child(store_url: str, var: Path, args: argparse.Namespace) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--measure", "--spans", str(args.spans), "--batch", args.batch]
        + ["--rounds", str(args.rounds)],
        cwd=ROOT,
        env=environment(store_url, var),
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the child: Django set up on the bench store -------------------------------------------


def measure(count: int, batches: list[int], rounds: int) -> dict:
    import django

    django.setup()
    spans = copies(count)
    figures = {}
    for size in batches:
        chunks = [spans[first : first + size] for first in range(0, len(spans), size)]
        exporter, ceiling = [], []
        for _ in range(rounds):  # alternated, so both meet the same load on a shared machine
            empty_store()
            exporter.append(through_exporter(chunks))
            empty_store()
            ceiling.append(through_executemany(chunks))
        figures[str(size)] = {
            "exporter": best(exporter, len(spans)),
            "ceiling": best(ceiling, len(spans)),
            "longest_export_ms": min(run.longest_s for run in exporter) * 1000,
            "longest_export_cpu_ms": min(run.longest_cpu_s for run in exporter) * 1000,
        }
    return {"batches": figures}


@dataclass
class Timed:
    wall_s: float  # elapsed
    cpu_s: float  # this process's CPU: all of SQLite's work, none of the PostgreSQL server's
    longest_s: float = 0.0  # the longest single export, elapsed
    longest_cpu_s: float = 0.0  # and in the exporting thread's CPU time (GIL held at most this long)


def best(runs: list[Timed], spans: int) -> dict[str, float]:
    """The least disturbed round's rates: spans per second elapsed and per CPU second."""
    return {"wall": spans / min(run.wall_s for run in runs), "cpu": spans / min(run.cpu_s for run in runs)}


RECORDED_TRACE = Path(__file__).parent / "data" / "confirmed_order_trace.json"


def copies(count: int) -> list:
    """``count`` finished SDK spans: the recorded confirmed order's trace again and again,
    each copy with fresh trace and span ids and a second later than the one before. One
    ``Resource`` per process of the recording, shared by its spans, as in the SDK."""
    import random

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    recorded = json.loads(RECORDED_TRACE.read_text())
    resources: dict[str, Resource] = {}
    for span in recorded:
        key = json.dumps(span["resource"], sort_keys=True)
        span["resource"] = resources.setdefault(key, Resource(span["resource"]))
    sampled = TraceFlags(TraceFlags.SAMPLED)
    rng = random.Random(15)
    spans: list[ReadableSpan] = []
    for copy in range(count // len(recorded) + 1):
        trace_id, shift = rng.getrandbits(128), copy * 1_000_000_000
        ids = {span["span_id"]: rng.getrandbits(64) for span in recorded}
        spans += [
            ReadableSpan(
                name=span["name"],
                context=SpanContext(trace_id, ids[span["span_id"]], False, sampled),
                parent=SpanContext(trace_id, ids[span["parent_span_id"]], False, sampled)
                if span["parent_span_id"] in ids
                else None,
                resource=span["resource"],
                attributes={
                    key: tuple(value) if isinstance(value, list) else value
                    for key, value in span["attributes"].items()
                },
                events=[
                    Event(event["name"], event.get("attributes") or {}, event["time_ns"] + shift)
                    for event in span["events"]
                ],
                links=[
                    Link(
                        SpanContext(int(link["trace_id"], 16), int(link["span_id"], 16), True, sampled),
                        link.get("attributes") or {},
                    )
                    for link in span["links"]
                ],
                kind=SpanKind[span["kind"]],
                status=Status(StatusCode[span["status"]], span["status_message"] or None),
                start_time=span["start_time"] + shift,
                end_time=span["end_time"] + shift,
            )
            for span in recorded
        ]
    return spans[:count]


STORE_TABLES = ("span", "trace", "traceattribute", "operation")


def empty_store() -> None:
    from django.db import connections

    connection = connections["telemetry"]
    with connection.cursor() as cursor:
        for table in STORE_TABLES:
            cursor.execute(f"DELETE FROM telemetry_{table}")
        if connection.vendor == "sqlite":
            cursor.execute("VACUUM")


def through_exporter(chunks: list) -> Timed:
    """All the exports, and the longest one."""
    from telemetry.store.exporter import StoreSpanExporter

    exporter = StoreSpanExporter()
    timed = Timed(-time.perf_counter(), -time.process_time())
    for chunk in chunks:
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = exporter.export(chunk)
        timed.longest_s = max(timed.longest_s, time.perf_counter() - started)
        timed.longest_cpu_s = max(timed.longest_cpu_s, time.thread_time() - started_cpu)
        if result.name != "SUCCESS":
            raise SystemExit("an export failed: see the log above")
    timed.wall_s += time.perf_counter()
    timed.cpu_s += time.process_time()
    return timed


def through_executemany(chunks: list) -> Timed:
    """Seconds to write the same spans with one ``executemany`` per table and batch, in a
    transaction per batch: the span rows (JSON as text), their attribute and operation
    entries, and the trace summaries (an upsert that adds the counts)."""
    from django.db import connections, transaction

    connection = connections["telemetry"]
    json_value = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    span_sql = (
        "INSERT INTO telemetry_span (trace_id, span_id, parent_span_id, name, service, kind, "
        "start_time_ns, end_time_ns, duration_ns, status, status_message, attributes, events, "
        f"links, resource, order_id) VALUES ({', '.join(['%s'] * 11 + [json_value] * 4)}, %s) "
        "ON CONFLICT DO NOTHING"
    )
    attribute_sql = (
        "INSERT INTO telemetry_traceattribute (key, value, trace_id) VALUES (%s, %s, %s) "
        "ON CONFLICT DO NOTHING"
    )
    operation_sql = (
        "INSERT INTO telemetry_operation (service, name, kind) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
    )
    trace_sql = (
        "INSERT INTO telemetry_trace AS t (trace_id, start_ns, end_ns, duration_ns, span_count, "
        "error_count, root_rank, root_name, root_service) VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s) "
        "ON CONFLICT (trace_id) DO UPDATE SET span_count = t.span_count + excluded.span_count"
    )
    started, started_cpu = time.perf_counter(), time.process_time()
    for chunk in chunks:
        spans, attributes, operations, traces = raw_rows(chunk)
        with transaction.atomic(using="telemetry"), connection.cursor() as cursor:
            cursor.executemany(span_sql, spans)
            cursor.executemany(attribute_sql, sorted(attributes))
            cursor.executemany(operation_sql, sorted(operations))
            cursor.executemany(trace_sql, list(traces.values()))
    return Timed(time.perf_counter() - started, time.process_time() - started_cpu)


def raw_rows(chunk: list) -> tuple[list, set, set, dict]:
    """The rows of a batch as plain tuples, with as little Python as the store's tables allow:
    the same rows the store writes (its own rule for which attributes are indexed)."""
    from telemetry.store.index import attribute_text, is_indexed

    spans: list[tuple] = []
    attributes: set[tuple[str, str, str]] = set()
    operations: set[tuple[str, str, str]] = set()
    traces: dict[str, list] = {}
    for span in chunk:
        trace_id = format(span.context.trace_id, "032x")
        values = dict(span.attributes or {})
        service = str(values.get("threadline.service") or span.resource.attributes.get("service.name"))
        events = [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ]
        links = [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": dict(link.attributes or {}),
            }
            for link in span.links
        ]
        spans.append(
            (
                trace_id,
                format(span.context.span_id, "016x"),
                format(span.parent.span_id, "016x") if span.parent else "",
                span.name,
                service,
                span.kind.name,
                span.start_time,
                span.end_time,
                span.end_time - span.start_time,
                span.status.status_code.name,
                span.status.description or "",
                json.dumps(values, default=list),
                json.dumps(events, default=list),
                json.dumps(links, default=list),
                json.dumps(dict(span.resource.attributes), default=list),
                str(values.get("order.id", "")),
            )
        )
        text = {key: attribute_text(value) for key, value in values.items()}
        attributes.update((key, value, trace_id) for key, value in text.items() if is_indexed(key, value))
        attributes.add((":service", service, trace_id))
        attributes.add((":operation", f"{service}\t{span.name}", trace_id))
        operations.add((service, span.name, span.kind.name))
        total = traces.setdefault(
            trace_id, [trace_id, span.start_time, span.end_time, 0, 0, 0, span.name, service]
        )
        total[1], total[2] = min(total[1], span.start_time), max(total[2], span.end_time)
        total[4] += 1
    return spans, attributes, operations, traces


if __name__ == "__main__":
    raise SystemExit(main())
