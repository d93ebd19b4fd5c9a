"""django-tasks-db's worker, refusing queue names Beacon never uses.

A worker started with `--queue-name emial` would wait for ever on a queue nothing is put on,
while the email queue fills up. The queues are settings.TASKS["default"]["QUEUES"]; `*`
(every queue) is fine, and so is anything when that list is empty (any queue accepted).
"""

from django.conf import settings
from django.core.management import CommandError
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorker


class Command(DatabaseWorker):
    def handle(self, *args, **options):
        known = set(settings.TASKS["default"].get("QUEUES") or [])
        names = [n for n in options["queue_name"].split(",") if n != "*"]
        names += [n for n in (options.get("exclude_queues") or "").split(",") if n]
        unknown = sorted(set(names) - known) if known else []
        if unknown:
            raise CommandError(
                f"Unknown queue {', '.join(map(repr, unknown))}: Beacon uses {', '.join(sorted(known))} "
                "(or '*' for all of them)."
            )
        return super().handle(*args, **options)
