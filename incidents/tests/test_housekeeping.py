"""The sweeper marks task rows of killed workers failed, and its daily retention run then removes them; spent
idempotency and reset records go too."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils.timezone import now
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from incidents.models import IdempotencyKey, PasswordResetRequest
from incidents.notifications.delivery import deliver_email

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "email", "slack"]}}


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = DB_TASKS


def claimed(minutes_ago: int) -> DBTaskResult:
    """A task row a worker claimed `minutes_ago` (and then, perhaps, died)."""
    result = deliver_email.enqueue(0)
    row = DBTaskResult.objects.get(pk=result.id)
    row.status = TaskResultStatus.RUNNING
    row.started_at = now() - timedelta(minutes=minutes_ago)
    row.worker_ids = ["killed-worker"]
    row.save()
    return row


def test_the_sweeper_marks_long_running_rows_failed_and_leaves_live_ones(database_tasks, db):
    dead = claimed(minutes_ago=120)
    live = claimed(minutes_ago=2)
    call_command("run_sweeper", "--once", verbosity=0)
    dead.refresh_from_db()
    live.refresh_from_db()
    assert dead.status == TaskResultStatus.FAILED and dead.finished_at is not None
    assert dead.exception_class_path == "incidents.housekeeping.WorkerLost"
    assert "worker that claimed it stopped" in dead.traceback
    assert live.status == TaskResultStatus.RUNNING


def test_pruning_then_removes_them_on_schedule(database_tasks, db, time_machine):
    time_machine.move_to(now(), tick=False)
    dead = claimed(minutes_ago=120)
    call_command("run_sweeper", "--once", verbosity=0)
    # The sweeper's daily retention run: finished rows older than the policy's days (14 by default).
    call_command("apply_retention", verbosity=0)
    assert DBTaskResult.objects.filter(pk=dead.pk).exists()
    time_machine.move_to(now() + timedelta(days=15), tick=False)
    call_command("apply_retention", verbosity=0)
    assert not DBTaskResult.objects.filter(pk=dead.pk).exists()


def test_the_threshold_is_a_setting(database_tasks, db, settings):
    settings.TASK_ABANDONED_MINUTES = 5
    row = claimed(minutes_ago=6)
    call_command("run_sweeper", "--once", verbosity=0)
    row.refresh_from_db()
    assert row.status == TaskResultStatus.FAILED


def test_spent_idempotency_and_reset_records_are_dropped(db, time_machine):
    time_machine.move_to(now(), tick=False)
    IdempotencyKey.objects.create(owner="user:1", scope="report", key="k" * 10)
    PasswordResetRequest.objects.create(email_digest="d", ip="203.0.113.1")
    call_command("run_sweeper", "--once", verbosity=0)
    assert IdempotencyKey.objects.exists() and PasswordResetRequest.objects.exists()
    time_machine.move_to(now() + timedelta(hours=25), tick=False)
    call_command("run_sweeper", "--once", verbosity=0)
    assert not IdempotencyKey.objects.exists() and not PasswordResetRequest.objects.exists()
