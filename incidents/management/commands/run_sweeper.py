"""The outbox sweeper: every minute, re-enqueue notifications whose attempt is overdue or
whose lease expired, and check overdue update reminders.

Run it beside the workers under the same supervisor (docker-compose service `sweeper`).
Unlike db_worker it survives database outages: it logs, waits and tries again.
"""

import logging
import signal
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from incidents import delivery, notifications

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Re-enqueue overdue and lease-expired notifications, and send overdue update reminders, every minute."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=60.0, help="Seconds between sweeps (default 60).")
        parser.add_argument("--once", action="store_true", help="Sweep once and exit (cron, tests).")

    def handle(self, *, interval: float, once: bool, **options):
        self.running = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while self.running:
            try:
                swept = delivery.sweep()
                reminded = notifications.remind_all_due()
            except DatabaseError:
                logger.exception("Sweep failed; trying again in %s s", interval)
            else:
                if swept or reminded or options["verbosity"] > 1:
                    self.stdout.write(f"swept {swept} notification(s), sent {reminded} reminder(s)")
            if once:
                return
            # Long-running command: drop connections that died with a database restart.
            close_old_connections()
            self._sleep(interval)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self.running and time.monotonic() < end:
            time.sleep(min(1.0, end - time.monotonic()))

    def _stop(self, signum, frame) -> None:
        self.running = False
