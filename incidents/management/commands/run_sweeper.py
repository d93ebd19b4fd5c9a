"""The sweeper: every minute, re-enqueue notifications whose attempt is overdue or whose
lease expired, send overdue update reminders, and check heartbeats whose window passed.
At start it re-arms escalations and handoffs (their delayed tasks may have died with a
worker); every sweep it marks task rows of killed workers failed (incidents/housekeeping.py)
and drops spent idempotency and password-reset records; at start and then once a day it applies
the data retention policy (manage.py apply_retention, incidents/retention.py): closed incidents
past their years, the delivery ledger and finished task rows (failed ones included) past their days.

Run it beside the workers under the same supervisor (docker-compose service `sweeper`).
Unlike db_worker it survives database outages: it logs, waits and tries again.

Start as many as you like: on PostgreSQL a long-running sweeper sweeps only while it holds the
"sweeper" advisory lock (incidents/advisory.py); the others stand by, asking again every few
seconds, and one of them takes over within seconds of the active one's death. `--once` takes
no lock (a cron job or a test runs it on purpose).
"""

import logging
import signal
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend

from incidents import advisory, housekeeping
from incidents.alerts import heartbeat
from incidents.maintenance import rules as maintenance_rules
from incidents.notifications import delivery, health, reminders
from incidents.oncall import paging

PRUNE_EVERY = 24 * 3600
# How often a standby sweeper asks for the lock: the longest a takeover waits after a death.
STANDBY_POLL = 5.0

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Re-enqueue overdue and lease-expired notifications, and send overdue update reminders, every minute."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=60.0, help="Seconds between sweeps (default 60).")
        parser.add_argument("--once", action="store_true", help="Sweep once and exit (cron, tests).")

    def handle(self, *, interval: float, once: bool, **options):
        self.running = True
        if not once:
            # Finish the sweep in hand on a stop; a one-off sweep leaves its caller's handlers alone.
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        rearmed = once  # a one-off sweep (cron, tests) leaves escalations alone
        # A long-running sweep applies retention at start, then daily, whatever the task backend
        # (task rows are one kind of many); only a database backend has task rows to fail.
        keeps_task_rows = isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend)
        prunes = not once
        next_prune = time.monotonic() if prunes else None
        lock = None if once else advisory.AdvisoryLock("sweeper")
        active = None  # unknown yet: the first answer is always reported
        while self.running:
            if lock is not None:
                held = lock.hold()
                if held != active:
                    active = held
                    if held:
                        self.stdout.write("holding the sweeper lock: this sweeper is the active one")
                    else:
                        holder = lock.holder()
                        self.stdout.write(f"another sweeper is active ({holder or 'unknown'}); standing by")
                        rearmed = False  # whoever takes over re-arms: the active one may die with tasks in hand
                    self.stdout.flush()
                if not held:
                    close_old_connections()
                    self._sleep(min(interval, STANDBY_POLL))
                    continue
            try:
                if not rearmed:
                    # Stale re-armed tasks find their step done and stop; lost ones come back.
                    incidents, rotations = paging.rearm()
                    windows = maintenance_rules.rearm()
                    rearmed = True
                    self.stdout.write(
                        f"re-armed escalations of {incidents} incident(s), {rotations} handoff(s), "
                        f"the end of {windows} maintenance window(s)"
                    )
                swept = delivery.sweep()
                reminded = reminders.remind_all_due()
                silent = heartbeat.check_all_overdue()
                if keeps_task_rows:
                    abandoned = housekeeping.fail_abandoned_tasks()
                    if abandoned:
                        self.stdout.write(f"marked {abandoned} task(s) of stopped workers failed")
                housekeeping.prune_records()
                health.tell_managers()
                if next_prune is not None and time.monotonic() >= next_prune:
                    call_command("apply_retention", trigger="sweeper", verbosity=0)
                    next_prune = time.monotonic() + PRUNE_EVERY
            except DatabaseError:
                logger.exception("Sweep failed; trying again in %s s", interval)
            else:
                if swept or reminded or silent or options["verbosity"] > 1:
                    self.stdout.write(
                        f"swept {swept} notification(s), sent {reminded} reminder(s), "
                        f"opened {silent} silent-pipeline incident(s)"
                    )
            if once:
                return
            self.stdout.flush()
            # Long-running command: drop connections that died with a database restart.
            close_old_connections()
            self._sleep(interval)
        if lock is not None:
            lock.release()

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self.running and time.monotonic() < end:
            time.sleep(min(1.0, end - time.monotonic()))

    def _stop(self, signum, frame) -> None:
        self.running = False
