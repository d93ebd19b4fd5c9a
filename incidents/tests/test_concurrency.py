"""Two people acting on one incident at the same moment, on two PostgreSQL connections.

SQLite serialises whole transactions, so these tests prove nothing there.
"""

import threading
import time

import pytest
from django.db import connection, connections

from incidents import workflow
from incidents.models import Incident, TimelineEntry
from incidents.tests.factories import make_incident

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")


def race(first, second):
    """Run `first` so that it holds the incident lock while `second` starts; return both outcomes."""
    inside = threading.Event()
    outcomes = {}

    def slow_listener(entry):
        if threading.current_thread().name == "first":
            inside.set()
            time.sleep(0.5)  # hold the row lock while the other connection arrives

    def run(name, action):
        try:
            outcomes[name] = ("ok", action())
        except Exception as error:  # noqa: BLE001 - the outcome is what we assert
            outcomes[name] = ("refused", error)
        finally:
            connections.close_all()

    workflow.on_entry(slow_listener)
    try:
        a = threading.Thread(target=run, args=("first", first), name="first")
        b = threading.Thread(target=run, args=("second", second), name="second")
        a.start()
        assert inside.wait(5)
        b.start()
        a.join(10)
        b.join(10)
    finally:
        workflow._entry_listeners.remove(slow_listener)
    return outcomes


def test_two_acknowledgements_one_winner_one_clear_refusal(reporter, responder, other_responder):
    incident = make_incident(by=reporter)
    outcomes = race(
        lambda: workflow.acknowledge(incident, by=responder),
        lambda: workflow.acknowledge(incident, by=other_responder),
    )
    assert outcomes["first"][0] == "ok"
    assert outcomes["second"][0] == "refused"
    assert isinstance(outcomes["second"][1], workflow.InvalidTransition)
    assert str(outcomes["second"][1]) == f"{incident.ref} is already acknowledged."
    incident.refresh_from_db()
    assert incident.lead == responder
    assert incident.timeline.filter(kind=TimelineEntry.Kind.STATUS_CHANGE).count() == 1


def test_two_resolutions_race_and_only_one_lands(reporter, responder, other_responder):
    incident = make_incident(by=reporter)
    outcomes = race(
        lambda: workflow.resolve(incident, by=responder, summary="A", confirmed=True),
        lambda: workflow.resolve(incident, by=other_responder, summary="B", confirmed=True),
    )
    assert [outcomes["first"][0], outcomes["second"][0]] == ["ok", "refused"]
    incident.refresh_from_db()
    assert incident.resolution_summary == "A"


def test_two_edits_from_the_same_version_one_wins_the_other_conflicts(reporter, responder, other_responder):
    incident = make_incident(by=reporter)
    version = incident.version
    outcomes = race(
        lambda: workflow.edit(incident, by=responder, version=version, changes={"title": "From Rob"}),
        lambda: workflow.edit(incident, by=other_responder, version=version, changes={"title": "From Ola"}),
    )
    assert outcomes["first"][0] == "ok"
    assert isinstance(outcomes["second"][1], workflow.Conflict)
    assert Incident.objects.get(pk=incident.pk).title == "From Rob"


def test_two_people_ticking_one_task_one_tick_and_a_refusal_naming_the_first(reporter, responder, other_responder):
    from incidents.models import Task

    incident = make_incident(by=reporter)
    task = incident.tasks.first()
    outcomes = race(
        lambda: workflow.tick_task(incident, by=responder, task=task, done=True),
        lambda: workflow.tick_task(incident, by=other_responder, task=task, done=True),
    )
    assert [outcomes["first"][0], outcomes["second"][0]] == ["ok", "refused"]
    assert isinstance(outcomes["second"][1], workflow.InvalidTransition)
    assert "was already ticked by Rob Responder" in str(outcomes["second"][1])
    assert Task.objects.get(pk=task.pk).done_by == responder
    assert incident.timeline.filter(kind=TimelineEntry.Kind.TASK).count() == 1


def test_two_people_giving_one_role_the_second_is_told_of_the_conflict(reporter, responder, other_responder):
    from incidents.models import ResponseRole, RoleAssignment

    incident = make_incident(by=reporter)
    commander = ResponseRole.objects.get(slug="commander")
    # Both opened the page while nobody held the role.
    outcomes = race(
        lambda: workflow.assign_role(incident, by=responder, role=commander, user=responder, expected=None),
        lambda: workflow.assign_role(incident, by=other_responder, role=commander, user=other_responder, expected=None),
    )
    assert [outcomes["first"][0], outcomes["second"][0]] == ["ok", "refused"]
    assert isinstance(outcomes["second"][1], workflow.Conflict)
    assert "Rob Responder holds it now" in str(outcomes["second"][1])
    assert RoleAssignment.objects.get(incident=incident).user == responder
    assert incident.timeline.filter(kind=TimelineEntry.Kind.ROLE).count() == 1


def test_two_people_giving_one_task_the_second_is_told_of_the_conflict(reporter, responder, other_responder):
    from incidents.models import Task

    incident = make_incident(by=reporter)
    task = incident.tasks.first()
    outcomes = race(
        lambda: workflow.assign_task(incident, by=responder, task=task, user=responder, expected=None),
        lambda: workflow.assign_task(incident, by=other_responder, task=task, user=other_responder, expected=None),
    )
    assert [outcomes["first"][0], outcomes["second"][0]] == ["ok", "refused"]
    assert isinstance(outcomes["second"][1], workflow.Conflict)
    assert Task.objects.get(pk=task.pk).assignee == responder


def test_two_people_undoing_one_duplicate_the_second_is_told_it_changed(reporter, responder, other_responder):
    primary = make_incident(by=reporter, title="Checkout returns 500")
    duplicate = make_incident(by=reporter, title="Cannot pay", service=primary.service)
    workflow.mark_duplicate(duplicate, primary=primary, by=responder)
    outcomes = race(
        lambda: workflow.undo_duplicate(duplicate, by=responder, reason="Different cause."),
        lambda: workflow.undo_duplicate(duplicate, by=other_responder, reason="Not the same."),
    )
    assert [outcomes["first"][0], outcomes["second"][0]] == ["ok", "refused"]
    assert isinstance(outcomes["second"][1], workflow.InvalidTransition)
    assert str(outcomes["second"][1]) == f"{duplicate.ref} changed meanwhile: look again."
    assert Incident.objects.get(pk=duplicate.pk).duplicate_of_id is None
