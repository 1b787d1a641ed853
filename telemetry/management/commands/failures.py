"""``manage.py failures``: the failure groups of a window, as ``/traces/failures/`` shows them
(``telemetry/failures.py``), for a terminal during an incident or a script (``--json``)."""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from core.text import counted
from telemetry import failures
from telemetry.dashboard import metrics as span_metrics
from telemetry.models import FailureGroup
from telemetry.viewer.failures import report_json


def when(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class Command(BaseCommand):
    help = (
        "Failed and slow traces grouped by root-cause signature (service, operation, exception "
        "type, fault flag) over a window: per group the traces and orders affected, first seen "
        "(ever), first and last in the window, where the orders' money and stock ended, the "
        "group's diagnosis sentence and the newest example trace. The most traces first. "
        "First files the settled traces not grouped yet (each trace is analysed once; "
        "--no-update skips that, --rebuild-since DAYS goes back further than an hour). "
        "--json prints the page's JSON."
    )

    def add_arguments(self, parser):
        windows = ", ".join(span_metrics.WINDOWS)
        parser.add_argument(
            "--window", default=span_metrics.DEFAULT_WINDOW, help=f"one of {windows} (default 1h)"
        )
        parser.add_argument("--kind", choices=[k.value for k in FailureGroup.Kind], help="only this kind")
        parser.add_argument("--orders", action="store_true", help="list every affected order under its group")
        parser.add_argument("--json", action="store_true", help="print the groups as JSON")
        parser.add_argument("--no-update", action="store_true", help="only read: group no trace first")
        parser.add_argument(
            "--rebuild-since",
            type=float,
            metavar="DAYS",
            help="group the traces stored in the last DAYS days (default the last hour)",
        )

    def handle(self, *args, window, kind, orders, no_update, rebuild_since, **options):
        if window not in span_metrics.WINDOWS:
            raise CommandError(f"--window must be one of {', '.join(span_metrics.WINDOWS)}.")
        if not no_update:
            lookback = rebuild_since * 86_400 if rebuild_since is not None else failures.LOOKBACK_S
            while failures.group_failures(lookback_s=lookback)["grouped"]:
                pass  # a batch at a time, until no settled trace is left ungrouped
        win = span_metrics.window(window)
        report = failures.failure_report(win.start_ns, win.end_ns, kind=kind or "")
        if options["json"]:
            self.stdout.write(json.dumps(report_json(win, kind or "", report), indent=2))
            return
        if not report.groups:
            self.stdout.write(f"No failures in this window ({win.label}).")
            return
        self.stdout.write(
            f"{counted(report.orders, 'order')} affected, {counted(report.traces, 'trace')}, "
            f"in {counted(len(report.groups), 'group')} over {win.label}."
            + (" (newest grouped traces only)" if report.partial else "")
        )
        for g in report.groups:
            self.write_group(g, orders)

    def write_group(self, g: failures.GroupReport, all_orders: bool) -> None:
        new = " NEW" if g.is_new else ""
        self.stdout.write("")
        self.stdout.write(f"[{g.group.kind}{new}] {failures.describe(g.group)}")
        counts = f"{counted(g.count, 'trace')}, {counted(len(g.orders), 'order')}"
        self.stdout.write(f"  {counts}; {g.group.summary}")
        self.stdout.write(
            f"  since {when(g.group.first_seen_ns)} · in window {when(g.first_ns)} .. {when(g.last_ns)}"
        )
        if g.orders:
            money = ", ".join(f"{n} {what}" for what, n in g.money)
            stock = ", ".join(f"{n} {what}" for what, n in g.stock)
            self.stdout.write(f"  money: {money} · stock: {stock}")
        for order in g.orders if all_orders else g.shown_orders():
            self.stdout.write(f"    order {order.order_id}  money {order.money}, stock {order.stock}")
        if not all_orders and len(g.orders) > len(g.shown_orders()):
            self.stdout.write(f"    … and {len(g.orders) - len(g.shown_orders())} more (--orders)")
        if g.example_trace_id:
            self.stdout.write(f"  newest: {failures.trace_url(g.example_trace_id)}")
