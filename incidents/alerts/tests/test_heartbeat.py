"""The dead man's switch: heartbeats never open incidents; silence longer than the window does."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from incidents.alerts.heartbeat import check_heartbeat
from incidents.alerts.tests.support import am, integration, load, plan_setting  # noqa: F401
from incidents.models import Alert, Heartbeat, Incident, TimelineEntry
from incidents.models.tokens import integration_with_heartbeat

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def watchdog(status="firing", alertname="Watchdog") -> dict:
    payload = load("firing")
    alert = payload["alerts"][0]
    alert.update(
        status=status,
        fingerprint="00000000000000aa",
        labels={"alertname": alertname, "severity": "none", "service": "beacon"},
        annotations={"summary": "Alerting pipeline heartbeat"},
    )
    payload.update(
        status=status,
        groupKey=f'{{}}/{{alertname="{alertname}"}}:{{alertname="{alertname}"}}',
        groupLabels={"alertname": alertname},
        commonLabels=alert["labels"],
        commonAnnotations=alert["annotations"],
    )
    return payload


@pytest.fixture
def db_tasks(settings):
    """The real database task backend, which can delay a task (the test default cannot)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}


def beat(am, capture, at: datetime):
    with time_machine.travel(at, tick=False), capture(execute=True):
        response = am.post(watchdog())
    assert response.status_code == 200, response.content
    return response


def test_a_heartbeat_opens_no_incident_and_arms_a_delayed_check(
    am, integration, db_tasks, django_capture_on_commit_callbacks
):
    response = beat(am, django_capture_on_commit_callbacks, START)

    assert response.json()["message"] == "Heartbeat received."
    assert not Incident.objects.exists()
    assert not Alert.objects.exists()
    hb = Heartbeat.objects.get(integration=integration[0])
    assert (hb.alertname, hb.last_seen_at, hb.window) == ("Watchdog", START, timedelta(minutes=10))
    task = DBTaskResult.objects.get(task_path="incidents.alerts.heartbeat.check_heartbeat")
    assert task.run_after == START + timedelta(minutes=10)
    assert task.args_kwargs["args"] == [hb.pk]


def test_silence_longer_than_the_window_opens_one_critical_incident(
    am, integration, db_tasks, django_capture_on_commit_callbacks
):
    beat(am, django_capture_on_commit_callbacks, START)
    hb = Heartbeat.objects.get()

    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        assert check_heartbeat.call(hb.pk) == "alive"
    assert not Incident.objects.exists()

    with time_machine.travel(START + timedelta(minutes=10, seconds=1), tick=False):
        outcome = check_heartbeat.call(hb.pk)
        assert check_heartbeat.call(hb.pk) == "already silent"

    incident = Incident.objects.get()
    assert outcome == f"silent: {incident.ref}"
    assert incident.title == "Alerting pipeline is silent"
    assert incident.severity == Incident.Severity.CRITICAL
    assert incident.source == Incident.Source.ALERTMANAGER
    assert incident.service.name == "Alerting pipeline"
    assert "prometheus" in incident.description and "10 minutes" in incident.description
    # The timeline says where it came from, though no request carried it (a task did).
    assert incident.timeline.get(kind="reported").data["via"] == "alert"
    hb.refresh_from_db()
    assert hb.silent_incident == incident


def test_a_stale_check_armed_by_an_earlier_heartbeat_is_harmless(
    am, integration, db_tasks, django_capture_on_commit_callbacks
):
    beat(am, django_capture_on_commit_callbacks, START)
    beat(am, django_capture_on_commit_callbacks, START + timedelta(minutes=6))
    hb = Heartbeat.objects.get()
    assert DBTaskResult.objects.filter(task_path="incidents.alerts.heartbeat.check_heartbeat").count() == 2

    # The first heartbeat's check comes due; the second heartbeat is only 4 minutes old.
    with time_machine.travel(START + timedelta(minutes=10, seconds=1), tick=False):
        assert check_heartbeat.call(hb.pk) == "alive"
    assert not Incident.objects.exists()


@pytest.mark.django_db(transaction=True)  # the worker closes its connection between tasks
def test_the_worker_runs_the_due_check(am, integration, db_tasks, django_capture_on_commit_callbacks):
    beat(am, django_capture_on_commit_callbacks, START)

    with time_machine.travel(START + timedelta(minutes=11), tick=False):
        call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)

    task = DBTaskResult.objects.get(task_path="incidents.alerts.heartbeat.check_heartbeat")
    assert task.status == "SUCCESSFUL", task.exception_class_path
    assert Incident.objects.get().title == "Alerting pipeline is silent"


def test_the_next_heartbeat_says_the_pipeline_is_back(am, integration, db_tasks, django_capture_on_commit_callbacks):
    beat(am, django_capture_on_commit_callbacks, START)
    hb = Heartbeat.objects.get()
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        check_heartbeat.call(hb.pk)
    incident = Incident.objects.get()

    beat(am, django_capture_on_commit_callbacks, START + timedelta(minutes=25))

    assert Incident.objects.count() == 1
    back = incident.timeline.get(kind=TimelineEntry.Kind.ALERT_RESOLVED)
    assert back.data["heartbeat"] is True
    assert "pipeline is back" in back.text
    incident.refresh_from_db()
    assert incident.status == Incident.Status.REPORTED, "Beacon resolves nothing by itself"
    hb.refresh_from_db()
    assert hb.silent_incident is None
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        assert check_heartbeat.call(hb.pk) == "alive"


def test_a_resolved_heartbeat_is_not_a_heartbeat(am, integration, db_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = am.post(watchdog(status="resolved"))
    assert response.status_code == 200
    assert not Heartbeat.objects.exists()
    assert not Incident.objects.exists()


def test_a_heartbeat_in_a_payload_with_other_alerts_only_beats(
    am, integration, db_tasks, django_capture_on_commit_callbacks
):
    payload = load("firing")
    payload["alerts"].append(watchdog()["alerts"][0])
    with django_capture_on_commit_callbacks(execute=True):
        am.post(payload)
    assert Incident.objects.count() == 1
    assert list(Alert.objects.values_list("labels__alertname", flat=True)) == ["TargetDown"]
    assert Heartbeat.objects.get().last_seen_at is not None


def test_the_heartbeat_alertname_is_set_per_integration(am, integration, db_tasks, django_capture_on_commit_callbacks):
    Heartbeat.objects.create(integration=integration[0], alertname="DeadMansSwitch", window=timedelta(minutes=3))
    with time_machine.travel(START, tick=False), django_capture_on_commit_callbacks(execute=True):
        am.post(watchdog(alertname="DeadMansSwitch"))
        am.post(watchdog(alertname="Watchdog"))
    # The old name is now an ordinary alert (severity "none" maps to the default, medium).
    assert Incident.objects.get().title == "Alerting pipeline heartbeat"
    assert Heartbeat.objects.get().last_seen_at == START
    check = DBTaskResult.objects.get(task_path="incidents.alerts.heartbeat.check_heartbeat")
    assert check.run_after == START + timedelta(minutes=3)


def test_an_unwatched_heartbeat_is_not_checked(am, integration, db_tasks, django_capture_on_commit_callbacks):
    beat(am, django_capture_on_commit_callbacks, START)
    hb = Heartbeat.objects.get()
    Heartbeat.objects.filter(pk=hb.pk).update(is_active=False)
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        assert check_heartbeat.call(hb.pk) == "not watched"
    assert not Incident.objects.exists()


def test_without_a_backend_that_delays_the_heartbeat_is_stored_and_not_armed(
    am, integration, django_capture_on_commit_callbacks, caplog
):
    # The suite's default backend runs tasks at once and refuses run_after.
    with django_capture_on_commit_callbacks(execute=True):
        response = am.post(watchdog())
    assert response.status_code == 200
    assert Heartbeat.objects.get().last_seen_at is not None
    assert "cannot delay tasks" in caplog.text


def test_the_sweeper_catches_a_silence_whose_check_task_was_lost(
    am, integration, db_tasks, django_capture_on_commit_callbacks
):
    beat(am, django_capture_on_commit_callbacks, START)
    DBTaskResult.objects.all().delete()  # the delayed check died with its worker
    with time_machine.travel(START + timedelta(minutes=9), tick=False):
        call_command("run_sweeper", "--once", verbosity=0)
    assert not Incident.objects.exists()
    with time_machine.travel(START + timedelta(minutes=11), tick=False):
        call_command("run_sweeper", "--once", verbosity=0)
        call_command("run_sweeper", "--once", verbosity=0)
    incident = Incident.objects.get()
    assert incident.title == "Alerting pipeline is silent" and incident.severity == "critical"


def test_the_token_finds_its_integration_with_its_heartbeat_in_one_statement(integration, django_assert_num_queries):
    """integration_with_heartbeat (the webhooks' lookup, plain SQL): as the ORM would read it."""
    row, token = integration
    with django_assert_num_queries(1):
        found = integration_with_heartbeat(token)
        assert found == row and found.name == row.name and found.created_at == row.created_at
        with pytest.raises(Heartbeat.DoesNotExist):
            found.heartbeat  # noqa: B018 - none configured, and known without a query

    Heartbeat.objects.create(integration=row, alertname="DeadMansSwitch", window=timedelta(minutes=7))
    with django_assert_num_queries(1):
        found = integration_with_heartbeat(token)
        assert (found.heartbeat.alertname, found.heartbeat.window) == ("DeadMansSwitch", timedelta(minutes=7))
        assert found.heartbeat.is_active is True and found.heartbeat.last_seen_at is None

    assert integration_with_heartbeat(token + "x") is None
    assert integration_with_heartbeat("") is None and integration_with_heartbeat("t" * 201) is None
    row.is_active = False
    row.save()
    assert integration_with_heartbeat(token) is None


def test_a_heartbeat_alone_sends_no_plan_setting(am, integration, db_tasks):
    """The intake's plan setting (incidents/models/plain.py, generic_plans) is for the statements
    that apply alerts: a payload that only beats, every minute, does without it; one with an alert
    sends it."""
    with CaptureQueriesContext(connection) as queries:
        assert am.post(watchdog()).json()["message"] == "Heartbeat received."
    assert queries.captured_queries
    assert not [q["sql"] for q in queries.captured_queries if "plan_cache_mode" in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        assert am.post(load("firing")).json()["created"] is True
    sent = [q["sql"] for q in queries.captured_queries if "plan_cache_mode" in q["sql"]]
    assert len(sent) == plan_setting()
