"""``manage.py trace TRACE_ID`` or ``--order ORDER_ID``: print a stored trace, and with
``--analyze`` its diagnosis (``telemetry.diagnosis``)."""

import json

from django.core.management.base import BaseCommand, CommandError

from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.render import render_tree
from telemetry.diagnosis.text import diagnosis_text
from telemetry.selectors import span_to_dict, trace_id_for_order, trace_spans


class Command(BaseCommand):
    help = (
        "Print a trace from the embedded store as an indented tree (service, span, duration, "
        "status, error). Give a trace id, or --order ORDER_ID for that order's trace; --json "
        "prints the spans as JSON objects instead. --analyze adds the diagnosis after the tree: "
        "self time and share per service, the bottleneck, the root cause (earliest, deepest "
        "error span, with its attempt and fault), how it propagated to the order, and "
        "recommendations; --analyze --json prints the diagnosis alone as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("trace_id", nargs="?", help="32 hex digits")
        parser.add_argument("--order", metavar="ORDER_ID", help="show the trace of this order")
        parser.add_argument(
            "--json", action="store_true", help="print spans as JSON (with --analyze: the diagnosis)"
        )
        parser.add_argument(
            "--analyze", action="store_true", help="diagnose the trace: time, root cause, advice"
        )

    def handle(self, *args, trace_id=None, order=None, **options):
        spans = self.spans(trace_id, order)
        if options["analyze"] and options["json"]:
            self.stdout.write(json.dumps(analyze(spans).to_dict(), indent=2))
        elif options["analyze"]:
            self.stdout.write(render_tree(spans) + "\n" + diagnosis_text(analyze(spans)))
        elif options["json"]:
            self.stdout.write(json.dumps([span_to_dict(span) for span in spans], indent=2))
        else:
            self.stdout.write(render_tree(spans))

    def spans(self, trace_id: str | None, order: str | None) -> list:
        if bool(trace_id) == bool(order):
            raise CommandError("Give either a TRACE_ID or --order ORDER_ID.")
        if order:
            trace_id = trace_id_for_order(order)
            if trace_id is None:
                raise CommandError(
                    f"No stored span names order {order}. Check the order id; spans are written "
                    "in batches, so a new order's trace appears after a few seconds."
                )
        assert trace_id is not None  # exactly one of the two was given, and an order has one
        spans = trace_spans(trace_id.lower())
        if not spans:
            raise CommandError(
                f"No spans for trace {trace_id}. Spans are written in batches: wait a few seconds "
                "and check that the server and worker run with tracing on (TELEMETRY_ENABLED)."
            )
        return spans
