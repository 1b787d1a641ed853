"""``manage.py generate_traces``: fill the span store with synthetic checkout traces
(``synthetic.builders.checkout_trace``), through the same write path as the exporter, so the viewer
can be tried, and timed, on a store of a realistic size; with the metric rows the dashboard
counts (``synthetic.builders.metric_row``), as if every request had been sampled."""

import random
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from tqdm import tqdm

from instrumentation.context import untraced
from synthetic.builders import checkout_trace, metered, metric_row
from telemetry.models import LogRecord, Span, SpanMetric, Trace, TraceAttribute
from telemetry.store.index import save_spans
from telemetry.store.routers import STORE_DB

NS_PER_S = 1_000_000_000


class Command(BaseCommand):
    help = (
        "Add synthetic checkout traces to the span store until --spans spans were written: "
        "confirmed orders, refused checkouts, database timeouts recovered or compensated, "
        "about 90 spans a trace, with their log records and search index. Their start times "
        "are spread evenly over the last --hours hours, as a steady stream of orders would be. "
        "The traces go into the configured store (TELEMETRY_DATABASE_URL) next to any already "
        "there; their root spans carry threadline.synthetic=true."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--spans", type=int, default=1_000_000, help="spans to write (default: %(default)s)"
        )
        parser.add_argument(
            "--hours",
            type=float,
            default=24.0,
            help="spread the traces' start times over this many hours up to now (default: %(default)s)",
        )
        parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
        parser.add_argument(
            "--batch", type=int, default=5000, help="spans written per transaction (default: %(default)s)"
        )
        parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")

    def handle(self, *args, spans, hours, seed, batch, no_progress, **options):
        if spans <= 0 or hours <= 0 or batch <= 0:
            raise CommandError("--spans, --hours and --batch must be positive.")
        rng = random.Random(seed)
        # Mean spans per trace is about 90: space the traces so they end up spread over the window.
        expected_traces = max(1, spans // 90)
        now_ns = time.time_ns()
        first_ns = now_ns - int(hours * 3600 * NS_PER_S)
        step_ns = (now_ns - first_ns) // expected_traces
        written = traces = logs = 0
        pending_spans: list[Span] = []
        pending_logs: list[LogRecord] = []
        started = time.perf_counter()
        with untraced(), tqdm(total=spans, unit="span", unit_scale=True, disable=no_progress or None) as bar:
            while written + len(pending_spans) < spans:
                start_ns = min(now_ns - NS_PER_S * 60, first_ns + traces * step_ns + rng.randrange(step_ns))
                trace = checkout_trace(rng, start_ns)
                pending_spans += trace.spans
                pending_logs += trace.logs
                traces += 1
                if len(pending_spans) >= batch:
                    written += self.flush(pending_spans, pending_logs, bar)
                    logs += len(pending_logs)
                    pending_spans, pending_logs = [], []
            written += self.flush(pending_spans, pending_logs, bar)
            logs += len(pending_logs)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Wrote {written} spans in {traces} traces and {logs} log records in {seconds:.1f} s "
            f"({written / seconds:.0f} spans/s), start times over the last {hours:g} h."
        )
        self.refresh_statistics()

    def refresh_statistics(self) -> None:
        """What PostgreSQL's docs advise after a bulk load: fresh planner statistics, and
        the visibility map that lets the metrics read be an index-only scan. Autovacuum
        would get there in time, if it is on (on some servers it is not)."""
        connection = connections[STORE_DB]
        if connection.vendor != "postgresql":
            return  # SQLite picks the same plans with or without statistics here
        models = (Span, Trace, TraceAttribute, LogRecord, SpanMetric)
        tables = ", ".join(model._meta.db_table for model in models)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            if connection.in_atomic_block:  # VACUUM cannot run in a transaction (a test's)
                cursor.execute(f"ANALYZE {tables}")
            else:
                cursor.execute(f"VACUUM ANALYZE {tables}")
        self.stdout.write(f"Refreshed PostgreSQL's statistics in {time.perf_counter() - started:.1f} s.")

    def flush(self, spans, logs, bar) -> int:
        stored = save_spans(spans)
        LogRecord.objects.bulk_create(logs)
        rows = [metric_row(span) for span in spans if metered(span)]
        SpanMetric.objects.bulk_create(rows, ignore_conflicts=True)
        bar.update(stored)
        return stored
