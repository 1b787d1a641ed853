"""``manage.py prune_traces``: remove the traces the retention policy no longer keeps
(``telemetry/retention.py``), as beat does every ``TELEMETRY_PRUNE_INTERVAL`` seconds."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from instrumentation.context import untraced
from telemetry.store import retention


class Command(BaseCommand):
    help = (
        "Remove from the span store every trace that started more than --days days ago "
        "(default TELEMETRY_RETENTION_DAYS), except those with an error span younger than "
        "--error-days (default TELEMETRY_ERROR_RETENTION_DAYS): spans, log records and index "
        "entries, a chunk of traces per transaction. --dry-run only counts them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, help="keep traces this many days")
        parser.add_argument("--error-days", type=float, help="keep traces with an error this many days")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be removed, remove nothing"
        )
        parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")

    def handle(self, *args, days, error_days, dry_run, no_progress, **options):
        default = retention.Policy.from_settings()
        policy = retention.Policy(
            default.days if days is None else days, default.error_days if error_days is None else error_days
        )
        if policy.days < 0 or policy.error_days < 0:
            raise CommandError("--days and --error-days cannot be negative.")
        with untraced():
            due = retention.expired(policy).count()
        kept = f"a trace is kept {policy.days:g} days, one with an error {policy.error_days:g}"
        if dry_run:
            self.stdout.write(f"{due} traces would be removed ({kept}).")
            return
        with tqdm(total=due, unit="trace", disable=no_progress or None) as bar:
            removed = retention.prune(policy, progress=bar.update)
        self.stdout.write(f"Removed {removed['traces']} traces ({removed['spans']} spans): {kept}.")
