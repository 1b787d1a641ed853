"""``manage.py decide_traces``: tail retention's decisions on the quiet traces
(``telemetry/store/tail.py``), as beat runs them when ``TELEMETRY_TAIL_SAMPLING`` is on;
``--show`` prints what was decided for given traces."""

import dataclasses
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from instrumentation.context import untraced
from telemetry.models import Trace
from telemetry.store import tail

SHOWN = ("trace_id", "decision", "decision_reason", "decision_share", "tier", "incomplete", "span_count")


class Command(BaseCommand):
    help = (
        "Decide the traces no span has been stored for in TELEMETRY_TAIL_DECISION_WAIT seconds "
        "(or --wait): keep those with an error; keep TELEMETRY_TAIL_SLOW_SHARE of those longer "
        "than TELEMETRY_TAIL_SLOW_MS and TELEMETRY_TAIL_BASE_SHARE of the rest, each share times "
        "the customer tier's multiplier (TELEMETRY_TIER_MULTIPLIERS), drawn from the trace id "
        "so a re-run decides the same. A dropped trace loses its spans, log records and index "
        "entries; its summary row stays, marked dropped. Runs whether or not "
        "TELEMETRY_TAIL_SAMPLING is on (beat runs it only when on); up to --batch traces per "
        "run (repeat it for a backlog). --show TRACE_ID... prints those traces' decisions as "
        "JSON and decides nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, help="seconds a trace must be quiet (default the setting)")
        parser.add_argument("--batch", type=int, default=tail.BATCH, help="decide at most this many traces")
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")
        parser.add_argument("--show", nargs="+", metavar="TRACE_ID", help="print these traces' decisions")

    def handle(self, *args, wait, batch, show, **options):
        if show:
            with untraced():
                rows = Trace.objects.filter(trace_id__in=[t.lower() for t in show]).values(*SHOWN)
                self.stdout.write(json.dumps(list(rows), indent=2))
            return
        policy = tail.Policy.from_settings()
        if wait is not None:
            if wait < 0:
                raise CommandError("--wait cannot be negative.")
            policy = dataclasses.replace(policy, wait_s=wait)
        counts = tail.decide(policy, batch=batch)
        if options["json"]:
            self.stdout.write(json.dumps(counts))
            return
        off = "" if settings.TELEMETRY_TAIL_SAMPLING else " (TELEMETRY_TAIL_SAMPLING is off: beat runs none)"
        self.stdout.write(
            f"Kept {counts['kept']} traces, dropped {counts['dropped']} "
            f"({counts['spans_removed']} spans removed){off}."
        )
