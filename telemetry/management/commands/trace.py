"""``manage.py trace TRACE_ID`` or ``--order ORDER_ID``: print a stored trace."""

import json

from django.core.management.base import BaseCommand, CommandError

from telemetry.render import render_tree
from telemetry.store import span_to_dict, trace_id_for_order, trace_spans


class Command(BaseCommand):
    help = (
        "Print a trace from the embedded store as an indented tree (service, span, duration, "
        "status, error). Give a trace id, or --order ORDER_ID for that order's trace; --json "
        "prints the spans as JSON objects instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("trace_id", nargs="?", help="32 hex digits")
        parser.add_argument("--order", metavar="ORDER_ID", help="show the trace of this order")
        parser.add_argument("--json", action="store_true", help="print spans as JSON")

    def handle(self, *args, trace_id=None, order=None, **options):
        if bool(trace_id) == bool(order):
            raise CommandError("Give either a TRACE_ID or --order ORDER_ID.")
        if order:
            trace_id = trace_id_for_order(order)
            if trace_id is None:
                raise CommandError(
                    f"No stored span names order {order}. Check the order id; spans are written "
                    "in batches, so a new order's trace appears after a few seconds."
                )
        spans = trace_spans(trace_id.lower())
        if not spans:
            raise CommandError(
                f"No spans for trace {trace_id}. Spans are written in batches: wait a few seconds "
                "and check that the server and worker run with tracing on (TELEMETRY_ENABLED)."
            )
        if options["json"]:
            self.stdout.write(json.dumps([span_to_dict(span) for span in spans], indent=2))
        else:
            self.stdout.write(render_tree(spans))
