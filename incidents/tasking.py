"""Enqueue background tasks with the change that asks for them.

Beacon's tasks (deliveries, escalations, reminders, handoffs, heartbeat checks) are enqueued by a
change in the database: a new incident schedules its escalation, a notification row wants its
delivery. `with_change(enqueue)` decides when the enqueue happens:

* On the database task backend (django-tasks-db, the default), in the caller's transaction: the
  task row commits or rolls back with the change, so a process that dies right after COMMIT loses
  no task (the sweeper has less to re-arm), and a change with its tasks costs one COMMIT, not one
  per task (a commit waits for the disk: that is the intake's limit under an alert storm).
* On any other backend (RQ over Redis, another server that cannot join PostgreSQL's transaction;
  the inline backend of tests), once the transaction has committed, as before: a worker must never
  run a task for a change it cannot see yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends

logger = logging.getLogger(__name__)


def in_transaction() -> bool:
    """Whether task rows are written in the caller's transaction (see the module's docstring)."""
    try:
        from django_tasks_db.backend import DatabaseBackend
    except ImportError:  # pragma: no cover - django-tasks-db is a requirement
        return False
    if not isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend):
        return False
    # The task table lives in the default database (DATABASE_ROUTERS are not used by Beacon).
    return connections[DEFAULT_DB_ALIAS].in_atomic_block


def with_change(enqueue: Callable[[], None]) -> None:
    """Run `enqueue` (a callable that enqueues tasks) so that its tasks come with the caller's change.

    A task the backend refuses (a queue it does not know, say) never undoes the change that asked
    for it, in the transaction or after it: it is logged, and the sweeper re-arms what it stands
    for (escalations, handoffs, maintenance ends, undelivered outbox rows). Only a database error
    goes up, as the transaction it happened in is lost anyway."""
    if not in_transaction():
        transaction.on_commit(enqueue, robust=True)
        return
    try:
        enqueue()
    except DatabaseError:
        raise
    except Exception:
        logger.exception("A task was not enqueued with its change (the sweeper re-arms it): %r", enqueue)
