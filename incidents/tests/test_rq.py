"""TASKS_BACKEND=rq: tasks on Redis (django-tasks-rq), chosen by settings alone.

The settings (every Beacon queue exists in RQ; no Redis, no start), then delayed tasks on real
`manage.py rqworker --with-scheduler` processes against a private redis-server: an escalation
and a notification's retry run when due, not before, and once although two workers (and two
schedulers) watch the queues and each task was queued twice.
"""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils.timezone import now

from conftest import make_user
from incidents import roles
from incidents.models import Incident, Notification, TimelineEntry
from incidents.notifications import delivery
from incidents.notifications import outbox as notifications
from incidents.oncall import paging
from incidents.rqworker import whole_second_after
from incidents.tests.factories import make_incident
from incidents.tests.servers import RedisServer, beacon_env, free_port, manage, settings_of, stop, wait_until
from incidents.tests.standins import SmtpSink

POSTGRES = connection.vendor == "postgresql"
QUEUES = ["default", "email", "slack", "webhooks", "escalations", "apprise"]


def test_rq_without_a_redis_url_refuses_to_start_and_says_what_is_missing():
    result = settings_of("print('started')", TASKS_BACKEND="rq", RQ_URL="")
    assert result.returncode != 0 and "started" not in result.stdout
    assert "TASKS_BACKEND=rq needs RQ_URL or REDIS_URL (redis://host:6379/0), not ''" in result.stderr

    result = settings_of("print('started')", TASKS_BACKEND="rq", RQ_URL="http://queue:6379")
    assert "TASKS_BACKEND=rq needs RQ_URL or REDIS_URL (redis://host:6379/0), not 'http://queue:6379'" in (
        result.stderr
    )


def test_rq_is_chosen_by_settings_alone_with_every_beacon_queue():
    code = (
        "print(settings.TASKS['default']['BACKEND']); print(sorted(settings.TASKS['default']['QUEUES']));"
        " print(sorted(settings.RQ_QUEUES)); print({q['URL'] for q in settings.RQ_QUEUES.values()});"
        " print('django_rq' in settings.INSTALLED_APPS)"
    )
    result = settings_of(code, TASKS_BACKEND="rq", REDIS_URL="redis://queue.example:6379/2")
    assert result.returncode == 0, result.stderr
    backend, queues, rq_queues, urls, installed = result.stdout.split("\n")[:5]
    assert backend == "incidents.rqworker.Backend"
    assert queues == rq_queues == str(sorted(QUEUES))
    assert urls == "{'redis://queue.example:6379/2'}" and installed == "True"
    # RQ_URL wins over REDIS_URL (which the cache may use); the default stays PostgreSQL's table.
    result = settings_of(code, TASKS_BACKEND="rq", REDIS_URL="redis://cache:6379/0", RQ_URL="redis://queue:6379/1")
    assert result.stdout.split("\n")[3] == "{'redis://queue:6379/1'}"
    result = settings_of("print(settings.TASKS['default']['BACKEND'], hasattr(settings, 'RQ_QUEUES'))")
    assert result.stdout.strip() == "django_tasks_db.DatabaseBackend False"
    # django-tasks-rq's own check finds every queue configured (it names any that is not).
    check = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--fail-level", "WARNING"],
        cwd=django_settings.BASE_DIR,
        env=beacon_env(TASKS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:1/0", DEBUG="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def rq_tasks(settings, redis):
    """This process enqueues on the private Redis, as a gunicorn worker with TASKS_BACKEND=rq would."""
    settings.TASKS = {"default": {"BACKEND": "incidents.rqworker.Backend", "QUEUES": QUEUES}}
    settings.RQ_QUEUES = {name: {"URL": redis.url} for name in QUEUES}
    settings.RQ = {"JOB_CLASS": "django_tasks_rq.backend.Job"}
    return redis


def rq_workers(redis, tmp_path, smtp_port: int, count: int = 2, **env: str):
    environment = beacon_env(TASKS_BACKEND="rq", REDIS_URL=redis.url, EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}", **env)
    return [
        manage("rqworker", *QUEUES, "--with-scheduler", "--name", f"w{i}", env=environment, log=tmp_path / f"w{i}.log")
        for i in range(count)
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (worker processes share its database)")
def test_delayed_tasks_run_when_due_and_once_on_two_rq_workers_with_schedulers(rq_tasks, tmp_path, reporter):
    sink = SmtpSink(free_port(), tmp_path)
    sink.start()
    manager = make_user("mo", roles.MANAGER)
    incident = make_incident(by=reporter, severity=Incident.Severity.CRITICAL)
    # A notification whose first attempt failed: its retry is a delayed task (delivery.record_failure).
    # (write() enqueues it at once too: that task finds it not due yet and skips it.)
    [pk] = notifications.write(
        [Notification(event_key="retry", channel="email", recipient="late@example.com", subject="late", body_text="x")]
    )
    due = now() + timedelta(seconds=4)
    Notification.objects.filter(pk=pk).update(next_attempt_at=due)
    row = Notification.objects.get(pk=pk)
    for _ in range(2):  # each queued twice, as a sweeper's re-arm racing the first task would
        delivery.enqueue([(row.pk, "email")], run_after=due)
        paging.escalate.using(run_after=due).enqueue(incident.pk, 1)

    workers = rq_workers(rq_tasks, tmp_path, sink.port)
    try:
        # The default policy's step 1 (the next in line) finds nobody here, so step 2 (the managers)
        # follows at once: the escalations that paged someone are those with a user.
        escalations = TimelineEntry.objects.filter(
            incident=incident, kind=TimelineEntry.Kind.ESCALATION, data__has_key="user_id"
        )
        wait_until(lambda: escalations.exists(), timeout=30, what="the escalation")
        wait_until(
            lambda: (
                Notification.objects.get(pk=row.pk).state == "sent"
                and Notification.objects.filter(event_key__startswith="entry:", state="sent").count()
                == escalations.count()
            ),
            timeout=30,
            what="the retry and the page sent",
        )
        # The second copy of step 1 ran too, and found its step done; step 2 ran once.
        finished = django_rq.get_queue("escalations").finished_job_registry
        wait_until(lambda: finished.count == 3, timeout=15, what="both copies of step 1 and step 2 finished")
    finally:
        for worker in workers:
            stop(worker)
        sink.stop()
    [entry] = escalations  # once, though queued twice and watched by two schedulers
    assert entry.created_at >= due and entry.data["level"] == "managers" and entry.data["user_id"] == manager.pk
    row.refresh_from_db()
    assert row.sent_at >= due and row.attempts == 1
    assert sink.per_recipient()["late@example.com"] == 1
    page = Notification.objects.get(event_key=f"entry:{entry.pk}", channel="email")
    assert (page.recipient, page.state) == (manager.email, "sent")
    assert set(sink.per_message_id().values()) == {1}  # nothing sent twice
    logs = [w.read_text() for w in sorted(tmp_path.glob("w*.log"))]
    assert not any("Traceback" in log for log in logs)
    # One scheduler for each queue: RQ's lock in Redis, taken by one worker of the two.
    assert sorted("Acquired scheduler lock for escalations" in log for log in logs) == [False, True]


def test_a_delayed_task_is_scheduled_on_the_next_whole_second_never_before_its_time():
    # RQ keeps whole seconds, cut down: 07.9 would run at 07.0, before the row it serves is due.
    moment = datetime(2026, 12, 6, 0, 44, 7, 921103, tzinfo=UTC)
    assert whole_second_after(moment) == datetime(2026, 12, 6, 0, 44, 8, tzinfo=UTC)
    assert whole_second_after(moment.replace(microsecond=0)) == moment.replace(microsecond=0)
    assert whole_second_after(datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
