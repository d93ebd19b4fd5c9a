"""Each verb of the workflow is one transaction: when anything after the change fails (here the
listeners that write notifications in the same transaction), nothing of the change is saved.

These tests run with real commits (transaction=True), so a verb that lost its
`@transaction.atomic` would leave its half-done change behind, on SQLite as on PostgreSQL.
"""

import pytest

from incidents import workflow
from incidents.models import (
    Incident,
    IncidentLink,
    ResponseRole,
    RoleAssignment,
    StatusUpdate,
    Task,
    TimelineEntry,
)
from incidents.tests.factories import make_incident

pytestmark = pytest.mark.django_db(transaction=True)

S = Incident.Status


class Boom(Exception):
    pass


def boom(entry):
    raise Boom


def snapshot(incident):
    row = Incident.objects.filter(pk=incident.pk).values().get()
    tasks = list(Task.objects.filter(incident=incident).order_by("pk").values())
    assignments = list(RoleAssignment.objects.filter(incident=incident).values())
    return (
        row,
        TimelineEntry.objects.filter(incident=incident).count(),
        StatusUpdate.objects.count(),
        tasks,
        assignments,
    )


def walk(incident, responder, to):
    if to in (S.ACKNOWLEDGED, S.MITIGATED, S.RESOLVED):
        workflow.acknowledge(incident, by=responder)
    if to in (S.MITIGATED,):
        workflow.mitigate(incident, by=responder)
    if to == S.RESOLVED:
        workflow.resolve(incident, by=responder, summary="Fixed", confirmed=True)
    return Incident.objects.get(pk=incident.pk)


VERBS = {
    "edit": (S.REPORTED, lambda i, r, m, o: workflow.edit(i, by=r, version=i.version, changes={"title": "New"})),
    "acknowledge": (S.REPORTED, lambda i, r, m, o: workflow.acknowledge(i, by=r)),
    "mitigate": (S.ACKNOWLEDGED, lambda i, r, m, o: workflow.mitigate(i, by=r)),
    "reactivate": (S.MITIGATED, lambda i, r, m, o: workflow.reactivate(i, by=r, reason="Back")),
    "resolve": (S.ACKNOWLEDGED, lambda i, r, m, o: workflow.resolve(i, by=r, summary="Done", confirmed=True)),
    "close": (S.RESOLVED, lambda i, r, m, o: workflow.close(i, by=m)),
    "reopen": (S.RESOLVED, lambda i, r, m, o: workflow.reopen(i, by=r, reason="Back")),
    "change_severity": (S.REPORTED, lambda i, r, m, o: workflow.change_severity(i, by=r, severity="low")),
    "set_lead": (S.REPORTED, lambda i, r, m, o: workflow.set_lead(i, by=r, lead=o)),
    "add_note": (S.REPORTED, lambda i, r, m, o: workflow.add_note(i, by=r, text="A note")),
    "post_update": (S.REPORTED, lambda i, r, m, o: workflow.post_update(i, by=r, message="Update", public=True)),
    "set_public": (S.REPORTED, lambda i, r, m, o: workflow.set_public(i, by=r, public=True)),
    "assign_role": (
        S.REPORTED,
        lambda i, r, m, o: workflow.assign_role(i, by=r, role=ResponseRole.objects.get(slug="scribe"), user=o),
    ),
    "add_task": (S.REPORTED, lambda i, r, m, o: workflow.add_task(i, by=r, title="Check the CDN")),
    "tick_task": (S.REPORTED, lambda i, r, m, o: workflow.tick_task(i, by=r, task=i.tasks.first(), done=True)),
    "assign_task": (S.REPORTED, lambda i, r, m, o: workflow.assign_task(i, by=r, task=i.tasks.first(), user=o)),
}


@pytest.mark.parametrize("verb", VERBS)
def test_a_failure_after_the_change_leaves_nothing_of_it(
    verb, reporter, responder, manager, other_responder, monkeypatch
):
    start, act = VERBS[verb]
    incident = walk(make_incident(by=reporter), responder, start)
    before = snapshot(incident)
    monkeypatch.setattr(workflow, "_entry_listeners", [boom])
    with pytest.raises(Boom):
        act(incident, responder, manager, other_responder)
    assert snapshot(incident) == before


def test_a_failed_report_leaves_no_incident(reporter, monkeypatch):
    monkeypatch.setattr(workflow, "_entry_listeners", [boom])
    with pytest.raises(Boom):
        make_incident(by=reporter)
    assert not Incident.objects.exists()


def test_a_failed_link_leaves_no_link_and_no_entry(reporter, responder, monkeypatch):
    checkout, database = make_incident(by=reporter), make_incident(by=reporter)
    monkeypatch.setattr(workflow, "_entry_listeners", [boom])
    with pytest.raises(Boom):
        workflow.link(checkout, other=database, kind="caused_by", by=responder)
    assert not IncidentLink.objects.exists()
    assert not TimelineEntry.objects.filter(kind="link").exists()


def test_a_failed_unlink_keeps_the_link_and_writes_no_entry(reporter, responder, monkeypatch):
    checkout, database = make_incident(by=reporter), make_incident(by=reporter)
    found = workflow.link(checkout, other=database, kind="caused_by", by=responder)
    monkeypatch.setattr(workflow, "_entry_listeners", [boom])
    with pytest.raises(Boom):
        workflow.unlink(checkout, link_id=found.pk, by=responder)
    assert list(IncidentLink.objects.values_list("pk", flat=True)) == [found.pk]
    assert TimelineEntry.objects.filter(kind="link").count() == 2
