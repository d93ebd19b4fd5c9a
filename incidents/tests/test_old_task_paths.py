"""Task rows queued before the area layout name the old import paths (incidents.tasks.…,
incidents.paging.…, incidents.heartbeat.…). After an upgrade the worker must still run them:
these tests write such rows into the real database backend and run `db_worker` on them."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Notification, TimelineEntry
from incidents.notifications.delivery import deliver_email
from incidents.oncall.paging import escalate
from incidents.tests.factories import make_incident

DB_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "email", "slack", "escalations"],
    }
}


def queue_as_the_old_layout_did(task, old_path: str, *args):
    """Enqueue `task`, then give its row the path the previous release stored."""
    from django_tasks_db.models import DBTaskResult

    result = task.enqueue(*args)
    DBTaskResult.objects.filter(pk=result.id).update(task_path=old_path)
    return result.id


def run_worker():
    call_command("db_worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--no-reload", verbosity=0)


@pytest.mark.django_db(transaction=True)  # the worker closes its connection between tasks
def test_an_email_queued_as_incidents_tasks_deliver_email_is_sent(settings, reporter, responder):
    from django_tasks_db.models import DBTaskResult

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Nothing runs while the incident is set up: the row waits, as it would in a stopped queue.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)  # the responder leads: the reporter's note reaches them
    workflow.add_note(incident, by=reporter, text="It is back for some users.")
    row = Notification.objects.get(entry__kind=TimelineEntry.Kind.NOTE)
    assert row.state == Notification.State.PENDING
    mail.outbox.clear()

    settings.TASKS = DB_TASKS
    task_id = queue_as_the_old_layout_did(deliver_email, "incidents.tasks.deliver_email", row.pk)
    run_worker()

    task = DBTaskResult.objects.get(pk=task_id)
    assert (task.task_path, task.status, task.return_value) == ("incidents.tasks.deliver_email", "SUCCESSFUL", "sent")
    row.refresh_from_db()
    assert row.state == Notification.State.SENT
    assert [m.to for m in mail.outbox] == [[responder.email]]


@pytest.mark.django_db(transaction=True)
def test_an_escalation_queued_as_incidents_paging_escalate_runs(settings, reporter, manager):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    settings.ONCALL_ESCALATION_MINUTES = {"critical": 5}
    start = now()
    with time_machine.travel(start, tick=False):
        incident = make_incident(by=reporter, severity="critical")
    task_id = queue_as_the_old_layout_did(escalate, "incidents.paging.escalate", incident.pk, 1)

    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        run_worker()

    task = DBTaskResult.objects.get(pk=task_id)
    assert (task.task_path, task.status) == ("incidents.paging.escalate", "SUCCESSFUL"), task.exception_class_path
    assert incident.timeline.filter(kind=TimelineEntry.Kind.ESCALATION, data__step=1).exists()
