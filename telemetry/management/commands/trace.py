"""``manage.py trace TRACE_ID`` or ``--order ORDER_ID``: print a stored trace."""

import json

from django.core.management.base import BaseCommand, CommandError

from telemetry.render import render_tree
from telemetry.store import span_to_dict, trace_spans


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
            trace_id = self._trace_of_order(order)
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

    def _trace_of_order(self, order_id: str) -> str:
        # The order's own record says which trace it was placed in (read through its client
        # would need the server running; the command reads the orders table directly).
        from orders.models import Order

        try:
            order = Order.objects.get(pk=order_id)
        except (Order.DoesNotExist, ValueError, Exception) as exc:
            raise CommandError(f"No order {order_id}.") from exc
        if not order.trace_id:
            raise CommandError(f"Order {order_id} has no recorded trace id (tracing was off).")
        return order.trace_id
