"""``manage.py simulate_orders``: drive real checkouts against a running shop and check the
books afterwards (the run is ``simulator.driver``, the checks ``simulator.invariants``, the
report ``simulator.report``)."""

from __future__ import annotations

import argparse
import json
import random
import time

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.api import ApplicationError
from faults.registry import SCENARIOS
from faults.services import faults_apply_scenario
from simulator.driver import RunConfig, run
from simulator.report import Report, build_report, render


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


class Command(BaseCommand):
    help = (
        "Drive real checkouts over HTTP against a running shop (random baskets from its "
        "catalogue), wait until every order is confirmed or failed, then report outcomes, "
        "latency percentiles, the slowest and failed orders with their trace ids, and the "
        "invariants: no order lost or stuck, authorisations = captures + voids + refunds, "
        "stock conserved. Exits 1 when an invariant breaks."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--orders",
            type=positive_int,
            default=100,
            help="how many checkouts to make (default: %(default)s)",
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=8,
            help="checkouts in flight at once, one thread each; status reads use as many "
            "(default: %(default)s)",
        )
        parser.add_argument(
            "--scenario",
            choices=sorted(SCENARIOS),
            help="fault scenario to apply before the run, as 'manage.py faults scenario NAME' does, then "
            "reset every fault to calm after it. Written to this process's database (DATABASE_URL must be "
            "the shop's); the run starts after FAULTS_CACHE_SECONDS so running processes see it",
        )
        parser.add_argument(
            "--url",
            help="the shop to drive; its internal payments and inventory APIs are read there too "
            "(default: THREADLINE_BASE_URL, which the apps' own base URLs follow)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=120.0,
            help="seconds to wait, after the last checkout is answered, for every order to be confirmed "
            "or failed; orders still open then are reported stuck (default: %(default)s)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            help="seed of the random baskets: the same seed and catalogue give the same baskets "
            "(default: a random seed, printed in the report)",
        )
        parser.add_argument(
            "--retry-for",
            type=float,
            default=0.0,
            metavar="S",
            help="retry a checkout that got no answer (or 503) for up to S seconds with the same "
            "Idempotency-Key, as a customer would (default: 0, no retry)",
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=0.0,
            metavar="N",
            help="start at most N checkouts a second, to drive the shop at the pace its workers "
            "confirm rather than build a backlog (default: 0, as fast as --concurrency allows)",
        )
        parser.add_argument(
            "--json",
            metavar="PATH",
            help="also write the report as JSON to PATH; '-' writes the JSON to stdout and the text "
            "report to stderr",
        )

    def handle(self, *args, **options):
        out = self.stderr if options["json"] == "-" else self.stdout
        url = (options["url"] or settings.THREADLINE_BASE_URL).rstrip("/")
        if options["url"]:
            # One deployment: every app answers at the shop's URL, so the clients read there too.
            settings.INVENTORY_BASE_URL = settings.PAYMENTS_BASE_URL = url
        config = RunConfig(
            url=url,
            orders=options["orders"],
            concurrency=options["concurrency"],
            timeout=options["timeout"],
            seed=options["seed"] if options["seed"] is not None else random.randrange(2**31),
            scenario=options["scenario"],
            retry_for=options["retry_for"],
            rate=options["rate"],
        )
        report = self._run(config, out)
        out.write(render(report), ending="")
        if options["json"]:
            self._write_json(report, options["json"])
        if not report.passed:
            raise CommandError("an invariant broke: see the FAIL lines above", returncode=1)

    def _run(self, config: RunConfig, out) -> Report:
        if config.scenario:
            values = faults_apply_scenario(config.scenario)
            active = (
                ", ".join(f"{name}={value:g}" for name, value in sorted(values.items()) if value) or "none"
            )
            out.write(f"faults: applied scenario {config.scenario!r} ({active}) for this run")
            time.sleep(settings.FAULTS_CACHE_SECONDS)  # running processes cache the flags this long
        try:
            return build_report(config, run(config))
        except (requests.RequestException, ApplicationError, ValueError) as exc:
            raise CommandError(f"the run against {config.url} could not complete: {exc}") from exc
        finally:
            if config.scenario:
                faults_apply_scenario("calm")
                out.write("faults: reset to calm (every fault off) after the run")

    def _write_json(self, report: Report, path: str) -> None:
        text = json.dumps(report.as_dict(), indent=2, default=str)
        if path == "-":
            self.stdout.write(text)
        else:
            with open(path, "w") as file:
                file.write(text + "\n")
