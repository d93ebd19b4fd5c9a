"""Update reminders: the lead of an open Critical/High incident hears when no public update
was posted for 30 minutes. Delayed tasks wake the check; the check itself decides."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Notification
from incidents.notifications import reminders as notifications
from incidents.tests.factories import make_incident


@pytest.fixture
def dummy_tasks(settings):
    """A backend that records enqueued tasks (with their run_after) without running them."""
    from django_tasks import default_task_backend

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    default_task_backend.clear()
    return default_task_backend


def reminders(incident):
    return Notification.objects.filter(incident=incident, event_key__startswith="reminder:")


@pytest.fixture
def start():
    return now().replace(microsecond=0)


@pytest.fixture
def incident(reporter, responder, start):
    with time_machine.travel(start, tick=False):
        incident = make_incident(by=reporter, severity="critical")
        workflow.acknowledge(incident, by=responder)
    return incident


def test_a_timer_is_armed_for_when_the_update_is_due(dummy_tasks, reporter, django_capture_on_commit_callbacks, start):
    with time_machine.travel(start, tick=False), django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(by=reporter, severity="high")
        make_incident(by=reporter, severity="medium")  # no reminders below High
    [result] = [r for r in dummy_tasks.results if r.task.name == "reminder_due"]
    assert result.args == [incident.pk]
    assert result.task.run_after == start + timedelta(minutes=30)
    assert result.task.queue_name == "default"


def test_the_lead_is_reminded_once_per_overdue_interval(incident, start, responder):
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert notifications.remind_lead(incident.pk) is False
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert notifications.remind_lead(incident.pk) is True
        assert notifications.remind_lead(incident.pk) is False  # a stale or doubled timer is harmless
    [row] = reminders(incident)
    assert row.recipient == "rob@example.com"
    assert row.subject == f"[{incident.ref}][Critical] Checkout is down — No public update for 31 min"
    assert incident.timeline.filter(kind="notification", data__reminder=True).count() == 1
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert notifications.remind_lead(incident.pk) is True
    assert reminders(incident).count() == 2


def test_a_public_update_moves_the_next_reminder(incident, start, responder):
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        workflow.post_update(incident, by=responder, message="Internal.", public=False)
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert notifications.remind_lead(incident.pk) is True  # an internal update does not count
    with time_machine.travel(start + timedelta(minutes=40), tick=False):
        workflow.post_update(incident, by=responder, message="Public.", public=True)
    with time_machine.travel(start + timedelta(minutes=65), tick=False):
        assert notifications.remind_lead(incident.pk) is False
    with time_machine.travel(start + timedelta(minutes=71), tick=False):
        assert notifications.remind_lead(incident.pk) is True


def test_a_public_update_re_arms_the_timer(dummy_tasks, incident, responder, django_capture_on_commit_callbacks, start):
    at = time_machine.travel(start + timedelta(minutes=10), tick=False)
    with at, django_capture_on_commit_callbacks(execute=True):
        workflow.post_update(incident, by=responder, message="Public.", public=True)
    [result] = [r for r in dummy_tasks.results if r.task.name == "reminder_due"]
    assert result.task.run_after == start + timedelta(minutes=40)


def test_resolution_and_lower_severity_stop_reminders(incident, responder, start):
    workflow.change_severity(incident, by=responder, severity="medium")
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert notifications.remind_lead(incident.pk) is False
    workflow.change_severity(incident, by=responder, severity="high")
    workflow.resolve(incident, by=responder, summary="Fixed.", confirmed=True)
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert notifications.remind_lead(incident.pk) is False
    assert not reminders(incident).exists()


def test_the_interval_is_a_setting_per_severity(settings, incident, start):
    settings.UPDATE_REMINDER_MINUTES = {"critical": 10, "high": 0}
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        assert notifications.remind_lead(incident.pk) is True


def test_the_sweeper_sends_reminders_whose_timer_was_lost(
    incident, start, mailoutbox, django_capture_on_commit_callbacks
):
    at = time_machine.travel(start + timedelta(minutes=31), tick=False)
    with at, django_capture_on_commit_callbacks(execute=True):
        call_command("run_sweeper", "--once")
    assert reminders(incident).get().state == "sent"  # ImmediateBackend delivered it on commit
    assert [m.to for m in mailoutbox] == [["rob@example.com"]]
