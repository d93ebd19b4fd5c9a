"""Escalation of unacknowledged urgent incidents (paging.escalation_step and its delayed task).

The step function is called with a controlled clock; one test enqueues through the real
django-tasks database backend and runs the due tasks with `manage.py db_worker --batch`.
"""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django_tasks import task_backends
from django_tasks_db.models import DBTaskResult

from incidents import workflow
from incidents.models import Notification, TimelineEntry
from incidents.oncall import paging
from incidents.oncall.tests.data import make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

Kind = TimelineEntry.Kind
NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)  # other_responder is on call (see test_oncall_assignment)
DB_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "email", "slack", "escalations"],
    }
}


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout")


@pytest.fixture
def rotation(checkout, responder, other_responder):
    return make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])


@pytest.fixture
def urgent(reporter, checkout, rotation, manager):
    with time_machine.travel(NOON, tick=False):
        return make_incident(by=reporter, service=checkout, severity="critical")


def escalations(incident) -> list[tuple[int, str, int]]:
    entries = incident.timeline.filter(kind=Kind.ESCALATION).order_by("pk")
    return [(e.data["step"], e.data["level"], e.data.get("user_id")) for e in entries]


def at(minutes: int) -> dt.datetime:
    return NOON + dt.timedelta(minutes=minutes)


def test_the_default_policy_pages_next_person_then_managers_then_repeats_up_to_the_limit(
    urgent, responder, other_responder, manager
):
    # The default policy made from the settings: next in line, managers, repeated once (4 steps).
    assert urgent.lead == other_responder
    assert paging.escalation_step(urgent.pk, 1, at=at(5)) == "next"
    assert escalations(urgent) == [(1, "next", responder.pk)]
    assert paging.escalation_step(urgent.pk, 2, at=at(10)) == "managers"
    assert escalations(urgent)[1:] == [(2, "managers", manager.pk)]
    assert paging.escalation_step(urgent.pk, 3, at=at(15)) == "next"
    assert paging.escalation_step(urgent.pk, 4, at=at(20)) == "managers"
    assert paging.escalation_step(urgent.pk, 5, at=at(25)) == "limit"  # ONCALL_ESCALATION_STEPS = 4
    assert escalations(urgent)[2:] == [(3, "next", responder.pk), (4, "managers", manager.pk)]
    entry = urgent.timeline.filter(kind=Kind.ESCALATION).first()
    assert entry.author is None
    assert entry.text == (
        "Escalation 1: paged Rob Responder — the next in line of the service's rotation; not acknowledged after 5 min"
    )
    assert entry.data["channels"] == ["email"]
    assert [(n.channel, n.user) for n in Notification.objects.filter(event_key=f"entry:{entry.pk}")] == [
        ("email", responder)
    ]


def test_acknowledgement_stops_escalation(urgent, other_responder):
    paging.escalation_step(urgent.pk, 1, at=at(5))
    workflow.acknowledge(urgent, by=other_responder)
    assert paging.escalation_step(urgent.pk, 2, at=at(10)) == "acknowledged"
    assert len(escalations(urgent)) == 1


def test_a_repeated_or_stale_task_does_nothing(urgent):
    assert paging.escalation_step(urgent.pk, 1, at=at(5)) == "next"
    assert paging.escalation_step(urgent.pk, 1, at=at(6)) == "done"
    assert paging.escalation_step(urgent.pk, 2, at=at(10)) == "managers"
    assert paging.escalation_step(urgent.pk, 1, at=at(11)) == "done"
    assert len(escalations(urgent)) == 2
    assert paging.escalation_step(999_999, 1) == "gone"


def test_medium_and_low_never_escalate_and_a_downgrade_stops_it(reporter, checkout, rotation, responder):
    with time_machine.travel(NOON, tick=False):
        medium = make_incident(by=reporter, service=checkout, severity="medium")
        high = make_incident(by=reporter, service=checkout, severity="high")
    assert paging.escalation_step(medium.pk, 1, at=at(60)) == "not urgent"
    workflow.change_severity(high, by=responder, severity="low")
    assert paging.escalation_step(high.pk, 1, at=at(60)) == "not urgent"
    assert escalations(medium) == escalations(high) == []


def test_alone_in_the_rotation_the_next_step_starts_at_once(reporter, responder, manager, settings):
    settings.TASKS = DB_TASKS
    service = ServiceFactory(name="Solo")
    make_rotation("Solo", members=[responder], services=[service])
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=service, severity="high")
    assert incident.lead == responder
    with django_capture_on_commit_callbacks_for(at(15)):
        assert paging.escalation_step(incident.pk, 1, at=at(15)) == "unreachable"
    assert incident.timeline.get(kind=Kind.ESCALATION).text == (
        "Escalation 1: nobody to page (the next in line of the service's rotation)."
    )
    # Nobody was reached: step 2 is due now, not 15 minutes later.
    assert [(r[2], r[1]["args"]) for r in queued() if r[1]["args"][1] == 2] == [(at(15), [incident.pk, 2])]
    assert paging.escalation_step(incident.pk, 2, at=at(15)) == "managers"
    assert escalations(incident)[1:] == [(2, "managers", manager.pk)]


def test_with_nobody_on_call_the_managers_are_paged_next(reporter, manager):
    incident = make_incident(by=reporter, service=ServiceFactory(name="Orphan"), severity="critical")
    assert incident.lead is None
    assert paging.escalation_step(incident.pk, 1) == "unreachable"
    assert paging.escalation_step(incident.pk, 2) == "managers"
    assert escalations(incident)[1:] == [(2, "managers", manager.pk)]


def test_with_nobody_at_all_the_timeline_says_so(reporter):
    incident = make_incident(by=reporter, service=ServiceFactory(name="Orphan"), severity="critical")
    assert paging.escalation_step(incident.pk, 1) == "unreachable"
    assert paging.escalation_step(incident.pk, 2) == "unreachable"
    assert [e.text for e in incident.timeline.filter(kind=Kind.ESCALATION).order_by("pk")] == [
        "Escalation 1: nobody to page (the next in line of the service's rotation).",
        "Escalation 2: nobody to page (the managers).",
    ]


# --- scheduling through the real database backend ------------------------------------------------


def queued():
    """The escalation tasks (notifications enqueue their own delivery and reminder tasks beside them)."""
    return list(
        DBTaskResult.objects.filter(task_path="incidents.oncall.paging.escalate")
        .order_by("run_after")
        .values_list("task_path", "args_kwargs", "run_after", "status")
    )


def test_report_schedules_step_one_after_the_severity_delay(
    settings, reporter, checkout, rotation, django_capture_on_commit_callbacks
):
    settings.TASKS = DB_TASKS
    with time_machine.travel(NOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        critical = make_incident(by=reporter, service=checkout, severity="critical")
        make_incident(by=reporter, service=checkout, severity="high")
        make_incident(by=reporter, service=checkout, severity="medium")
    rows = queued()
    assert [(path, args["args"], run_after) for path, args, run_after, _ in rows] == [
        ("incidents.oncall.paging.escalate", [critical.pk, 1], at(5)),
        ("incidents.oncall.paging.escalate", [critical.pk + 1, 1], at(15)),
    ]
    assert DBTaskResult.objects.filter(queue_name="escalations").count() == 2


def test_a_rolled_back_report_schedules_nothing(
    settings, reporter, checkout, rotation, django_capture_on_commit_callbacks
):
    # An in-memory backend keeps what was enqueued whatever the database does: only enqueueing
    # on commit keeps a rolled-back report from paging anyone later.
    settings.TASKS = {
        **DB_TASKS,
        "default": {**DB_TASKS["default"], "BACKEND": "django_tasks.backends.dummy.DummyBackend"},
    }
    backend = task_backends["default"]

    def escalations_queued():
        return [r.args for r in backend.results if r.task.name == "escalate"]

    with time_machine.travel(NOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            make_incident(by=reporter, service=checkout, severity="critical")
            raise RuntimeError("the request failed after the report")
    assert escalations_queued() == []
    with time_machine.travel(NOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(by=reporter, service=checkout, severity="critical")
    assert escalations_queued() == [[incident.pk, 1]]


def test_raising_severity_of_an_unacknowledged_incident_starts_escalating(
    settings, reporter, responder, checkout, rotation, django_capture_on_commit_callbacks
):
    settings.TASKS = DB_TASKS
    with time_machine.travel(NOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(by=reporter, service=checkout, severity="medium")
    assert queued() == []
    with time_machine.travel(at(30), tick=False), django_capture_on_commit_callbacks(execute=True):
        workflow.change_severity(incident, by=responder, severity="high")
    assert [row[2] for row in queued()] == [at(45)]


def test_immediate_backend_refuses_to_schedule_rather_than_page_at_once(
    reporter, checkout, rotation, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(by=reporter, service=checkout, severity="critical")
    assert escalations(incident) == []
    assert "cannot run tasks later" in caplog.text


def django_capture_on_commit_callbacks_for(moment):
    """Run what the code in the block schedules on commit, at `moment` (the test transaction never commits)."""
    from contextlib import ExitStack

    from django.test import TestCase

    stack = ExitStack()
    stack.enter_context(time_machine.travel(moment, tick=False))
    stack.enter_context(TestCase.captureOnCommitCallbacks(execute=True))
    return stack


def run_worker():
    call_command("db_worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--no-reload", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_escalation_runs_in_the_db_worker_when_due_and_stops_on_acknowledgement(
    settings, reporter, responder, other_responder, manager
):
    settings.TASKS = DB_TASKS
    checkout = ServiceFactory(name="Checkout")
    make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])
    with time_machine.travel(NOON, tick=False) as clock:
        incident = make_incident(by=reporter, service=checkout, severity="critical")  # commits
        run_worker()  # nothing due yet
        assert escalations(incident) == []
        assert [r[3] for r in queued()] == ["READY"]

        clock.move_to(at(5))
        run_worker()
        assert escalations(incident) == [(1, "next", responder.pk)]
        rows = queued()
        assert [(r[2], r[3]) for r in rows] == [(at(5), "SUCCESSFUL"), (at(10), "READY")]

        workflow.acknowledge(incident, by=responder)
        clock.move_to(at(10))
        run_worker()
        assert escalations(incident) == [(1, "next", responder.pk)]
        done = DBTaskResult.objects.filter(task_path="incidents.oncall.paging.escalate").order_by("run_after").last()
        assert (done.status, done.return_value) == ("SUCCESSFUL", "acknowledged")
        assert DBTaskResult.objects.filter(task_path="incidents.oncall.paging.escalate", status="READY").count() == 0


def test_rearm_costs_the_same_for_many_incidents_and_rotations(
    urgent, reporter, responder, manager, checkout, django_assert_max_num_queries
):
    for i in range(5):
        make_rotation(f"R{i}", members=[responder, manager], services=[ServiceFactory(name=f"S{i}")])
    with time_machine.travel(NOON, tick=False):
        for _ in range(5):
            make_incident(by=reporter, service=checkout, severity="high")
    with time_machine.travel(at(5), tick=False):
        paging.escalation_step(urgent.pk, 1)
    # Policies and their steps (2), incidents and their pages (2), rotations with services,
    # members and overrides (4).
    with time_machine.travel(at(6), tick=False), django_assert_max_num_queries(8):
        assert paging.rearm() == (6, 6)


def test_rearm_schedules_the_next_step_of_each_unacknowledged_urgent_incident(
    settings, urgent, reporter, checkout, django_capture_on_commit_callbacks, capsys
):
    settings.TASKS = DB_TASKS
    with time_machine.travel(NOON, tick=False):
        quiet = make_incident(by=reporter, service=checkout, severity="low")
    with time_machine.travel(at(5), tick=False):
        paging.escalation_step(urgent.pk, 1)
    DBTaskResult.objects.all().delete()  # its step-2 task (and every other) was lost, say

    with django_capture_on_commit_callbacks(execute=True):
        call_command("rearm_oncall")
    rows = list(DBTaskResult.objects.values_list("task_path", "args_kwargs__args", "run_after"))
    assert ("incidents.oncall.paging.escalate", [urgent.pk, 2], at(10)) in rows
    assert not any(args[0] == quiet.pk for path, args, _ in rows if path.endswith("escalate"))
    assert any(path == "incidents.oncall.paging.handoff" for path, _, _ in rows)
    assert "Scheduled escalations for 1 incident(s) and handoffs for 1 rotation(s)." in capsys.readouterr().out


def test_rearm_schedules_the_current_ladder_after_a_reassignment(
    settings, urgent, responder, manager, django_capture_on_commit_callbacks
):
    settings.TASKS = DB_TASKS
    with time_machine.travel(at(2), tick=False):
        workflow.set_lead(urgent, by=manager, lead=responder)
    DBTaskResult.objects.all().delete()  # its own step 1 was lost, say
    with django_capture_on_commit_callbacks(execute=True):
        assert paging.rearm()[0] == 1
    # Ladder 1 (one reassignment), step 1, 5 minutes after the new lead's page.
    assert [(r[1]["args"], r[2]) for r in queued()] == [([urgent.pk, 1, 1], at(7))]
    # A task of the old ladder that still runs does nothing.
    assert paging.escalation_step(urgent.pk, 1, at=at(5)) == "superseded"
