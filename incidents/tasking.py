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

On the database backend, a change that asks for several tasks writes them in one INSERT: the
enqueues go through `enqueue` (or `enqueue_each`), and inside `together()` (a new incident:
`workflow.report`) they are gathered and written when the block ends. A new incident's escalation
and reminder were two INSERTs, each through the ORM; under an alert storm that was a fifth of the
work of opening an incident from an alert.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends

logger = logging.getLogger(__name__)

# The tasks (task, args) enqueued inside the current together() block, written when it ends.
_gathered: contextvars.ContextVar[list[tuple[Any, tuple]] | None] = contextvars.ContextVar(
    "tasking_gathered", default=None
)


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


@contextlib.contextmanager
def together() -> Iterator[None]:
    """Within this block, tasks `enqueue` would write one by one in the caller's transaction (the
    database backend) are written in one INSERT when the block ends. A block that raises writes
    none: the transaction, or the savepoint around the block, rolls back what asked for them. A
    block inside another writes with the outer one. Use it only where a savepoint rolled back
    inside the block cannot be caught and the block go on (the tasks it asked for would stay)."""
    if _gathered.get() is not None:
        yield
        return
    gathered: list[tuple[Any, tuple]] = []
    token = _gathered.set(gathered)
    try:
        yield
    finally:
        _gathered.reset(token)
    if gathered:
        _write_rows(gathered)


def enqueue(task_, *args) -> None:
    """`task_.enqueue(*args)`, or gathered for one INSERT inside `together()` (see above)."""
    enqueue_each(task_, [args])


def enqueue_each(task_, args: list[tuple]) -> None:
    """`task_.enqueue(*a)` for each `a` of `args`: on the database backend in one INSERT, or
    gathered inside `together()`. A task the backend refuses is refused here, at once, as
    `task_.enqueue` would refuse it: inside `with_change` that is logged and the change goes on."""
    gathered = _gathered.get() if in_transaction() else None
    if not _on_database(task_) or (gathered is None and len(args) < 2):
        for a in args:
            task_.enqueue(*a)
        return
    task_.get_backend().validate_task(task_)
    items = [(task_, a) for a in args]
    if gathered is None:
        _write_rows(items)
    else:
        gathered.extend(items)


def _on_database(task_) -> bool:
    from django_tasks_db.backend import DatabaseBackend

    return isinstance(task_.get_backend(), DatabaseBackend)


def _write_rows(items: list[tuple[Any, tuple]]) -> None:
    """What DatabaseBackend.enqueue does for one task (django_tasks_db/backend.py), for many at once
    (tasks of the database backend, validated): the same row per task, and the same task_enqueued
    signal for each."""
    from django_tasks_db.compat import normalize_json, task_enqueued
    from django_tasks_db.models import DBTaskResult, get_date_max

    from incidents.models import plain

    rows: list[Any] = [
        DBTaskResult(
            id=task_.get_backend()._get_id(),
            args_kwargs=normalize_json({"args": list(args), "kwargs": {}}),
            priority=task_.priority,
            task_path=task_.module_path,
            queue_name=task_.queue_name,
            # bulk_create sends no pre_save, where django_tasks_db turns "no run_after" into its max date.
            run_after=task_.run_after or get_date_max(),
            backend_name=task_.backend,
        )
        for task_, args in items
    ]
    # One plain multi-row INSERT (models/plain.py): building bulk_create's statement cost more than
    # running it, on every incident an alert opens. No signal is missed: bulk_create sent none either.
    plain.insert(*rows)
    for (task_, _), row in zip(items, rows, strict=True):
        task_enqueued.send(type(task_.get_backend()), task_result=row.task_result)
