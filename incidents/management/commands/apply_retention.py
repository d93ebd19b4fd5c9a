"""Apply the data retention policy managers set on /retention/ (incidents/retention.py):
`--dry-run` lists what would go (counts per kind, the oldest date) and changes nothing; without
it the same is removed in batches, each its own short transaction, so a run stopped half way is
carried on by the next. The sweeper runs it daily (run_sweeper); this is for a look first, cron,
or a run now.
"""

from django.core.management.base import BaseCommand, CommandError

from incidents import retention
from incidents.models import RetentionPolicy


def _row(label: str, count: int, oldest) -> str:
    since = f", oldest {oldest:%Y-%m-%d}" if oldest else ""
    return f"{count:>8}  {label}{since}"


class Command(BaseCommand):
    help = "Purge or anonymise what the retention policy says is past its time (--dry-run: only say what)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would go; change nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.BATCH,
            help=f"Incidents or rows per transaction (default {retention.BATCH}).",
        )
        parser.add_argument(
            "--trigger", default="command", help="What the run is recorded as (the sweeper says sweeper)."
        )

    def handle(self, *, dry_run: bool, batch_size: int, trigger: str, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        policy = RetentionPolicy.current()
        if dry_run:
            self.stdout.write("Dry run: nothing is changed. A run now would remove:")
            for line in retention.preview(policy):
                self.stdout.write(_row(line.label, line.count, line.oldest))
            return
        counts = retention.apply(policy, batch=batch_size, trigger=trigger)
        if options["verbosity"] < 1:
            return
        self.stdout.write("Removed:")
        for kind, label in retention.KINDS.items():
            self.stdout.write(_row(label, counts[kind], None))
