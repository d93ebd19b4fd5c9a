"""What the sweeper (manage.py run_sweeper) tidies besides notifications.

Task rows of killed workers: django-tasks-db marks a row RUNNING when a worker claims it and
FAILED or SUCCESSFUL when the task ends; a worker killed in between (OOM, SIGKILL, a lost
machine) leaves the row RUNNING for ever, and pruning, which removes only finished rows,
never removes it. Beacon's tasks take seconds (an SMTP attempt is bounded by EMAIL_TIMEOUT),
so a row RUNNING for TASK_ABANDONED_MINUTES is a dead worker's: it is marked failed (the
notification itself is re-sent by the outbox sweep, incidents/notifications/delivery.py),
and pruned like any failed row.

Also the short-lived throttle and idempotency records (incidents/models/security.py).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils.timezone import now
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from incidents.models import IdempotencyKey, PasswordResetRequest

ABANDONED = "incidents.housekeeping.WorkerLost"


def fail_abandoned_tasks(at: datetime | None = None) -> int:
    """Mark RUNNING task rows whose worker is long gone as failed; returns how many."""
    at = at or now()
    cutoff = at - timedelta(minutes=settings.TASK_ABANDONED_MINUTES)
    return DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff).update(
        status=TaskResultStatus.FAILED,
        finished_at=at,
        return_value=None,
        exception_class_path=ABANDONED,
        traceback=(
            f"Still running {settings.TASK_ABANDONED_MINUTES} minutes after it started: the worker that "
            "claimed it stopped (killed or crashed). Marked failed by the sweeper (incidents/housekeeping.py)."
        ),
    )


def prune_records(at: datetime | None = None) -> int:
    """Delete idempotency keys and password-reset counts past their use; returns how many."""
    at = at or now()
    keys, _ = IdempotencyKey.objects.filter(
        created_at__lt=at - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    ).delete()
    resets, _ = PasswordResetRequest.objects.filter(
        created_at__lt=at - timedelta(minutes=settings.PASSWORD_RESET_WINDOW_MINUTES)
    ).delete()
    return keys + resets
