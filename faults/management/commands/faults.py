"""``manage.py faults``: show, set, reset fault flags or apply a named scenario."""

from django.core.management.base import BaseCommand, CommandError

from faults.registry import FAULTS, SCENARIOS
from faults.services import (
    FaultError,
    fault_values,
    faults_apply_scenario,
    faults_reset,
    faults_set,
    parse_assignment,
)


class Command(BaseCommand):
    help = (
        "Inject faults into the running shop. Examples: "
        "'faults set order_db_timeout=1.0 payment_decline=0.05', 'faults show', "
        "'faults reset', 'faults scenario incident'. Running processes see a change "
        "within a few seconds."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show", help="print every fault flag and its value")
        set_parser = sub.add_parser("set", help="set flags, NAME=VALUE ...")
        set_parser.add_argument("assignments", nargs="+", metavar="NAME=VALUE")
        sub.add_parser("reset", help="turn every fault off")
        scenario = sub.add_parser("scenario", help=f"apply a named scenario ({', '.join(SCENARIOS)})")
        scenario.add_argument("name", choices=sorted(SCENARIOS))

    def handle(self, *args, action: str, **options):
        try:
            if action == "set":
                faults_set(dict(parse_assignment(text) for text in options["assignments"]))
            elif action == "reset":
                faults_reset()
            elif action == "scenario":
                faults_apply_scenario(options["name"])
        except FaultError as exc:
            raise CommandError(str(exc)) from exc
        self._show()

    def _show(self) -> None:
        # Columns as wide as their widest cell, so a long name (order_place_db_timeout)
        # does not push its row's value, unit and help out of line with the others.
        rows = [
            (
                "*" if value != FAULTS[name].default else " ",
                name,
                f"{value:g}",
                FAULTS[name].unit,
                FAULTS[name].help,
            )
            for name, value in sorted(fault_values(fresh=True).items())
        ]
        name_width = max(len(row[1]) for row in rows)
        value_width = max(len(row[2]) for row in rows)
        unit_width = max(len(row[3]) for row in rows)
        for marker, name, value, unit, help_text in rows:
            self.stdout.write(
                f"{marker} {name:<{name_width}}  {value:>{value_width}}  {unit:<{unit_width}}  {help_text}"
            )
