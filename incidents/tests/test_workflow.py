"""Every transition, every illegal move; each action leaves exactly one timeline entry."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from incidents import workflow
from incidents.models import Incident, TimelineEntry
from incidents.tests.factories import make_incident

S = Incident.Status
K = TimelineEntry.Kind


@pytest.fixture
def incident(reporter):
    return make_incident(by=reporter)


def entries(incident):
    return list(incident.timeline.order_by("pk").values_list("kind", flat=True))


def fresh(incident):
    return Incident.objects.get(pk=incident.pk)


def to_status(incident, status, responder, manager):
    """Walk an incident to `status` through the workflow, as users would."""
    if status == S.REPORTED:
        return incident
    workflow.acknowledge(incident, by=responder)
    if status == S.ACKNOWLEDGED:
        return fresh(incident)
    workflow.mitigate(incident, by=responder)
    if status == S.MITIGATED:
        return fresh(incident)
    workflow.resolve(incident, by=responder, summary="Fixed", confirmed=True)
    if status == S.RESOLVED:
        return fresh(incident)
    workflow.close(incident, by=manager)
    return fresh(incident)


def test_report_writes_one_entry(incident):
    assert incident.status == S.REPORTED
    assert incident.reported_at is not None
    assert entries(incident) == [K.REPORTED]


def test_acknowledge(incident, responder):
    workflow.acknowledge(incident, by=responder)
    incident = fresh(incident)
    assert incident.status == S.ACKNOWLEDGED
    assert incident.acknowledged_at is not None
    assert incident.lead == responder  # the acknowledger leads when nobody did
    entry = incident.timeline.last()
    assert (entry.kind, entry.author, entry.data["old"], entry.data["new"]) == (
        K.STATUS_CHANGE,
        responder,
        "reported",
        "acknowledged",
    )
    assert entries(incident) == [K.REPORTED, K.STATUS_CHANGE]


def test_acknowledge_keeps_an_existing_lead(incident, responder, other_responder):
    workflow.set_lead(incident, by=responder, lead=other_responder)
    workflow.acknowledge(incident, by=responder)
    assert fresh(incident).lead == other_responder


def test_mitigate(incident, responder, manager):
    incident = to_status(incident, S.ACKNOWLEDGED, responder, manager)
    workflow.mitigate(incident, by=responder, text="Rolled back")
    incident = fresh(incident)
    assert incident.status == S.MITIGATED and incident.mitigated_at is not None
    assert incident.timeline.last().text == "Rolled back"
    assert len(entries(incident)) == 3


def test_mitigate_straight_from_reported_does_not_invent_an_acknowledgement(incident, responder):
    workflow.mitigate(incident, by=responder)
    incident = fresh(incident)
    assert incident.status == S.MITIGATED
    assert incident.acknowledged_at is None


def test_resolve_needs_summary_and_confirmation(incident, responder, manager):
    incident = to_status(incident, S.MITIGATED, responder, manager)
    with pytest.raises(workflow.InvalidTransition, match="summary"):
        workflow.resolve(incident, by=responder, summary="  ", confirmed=True)
    with pytest.raises(workflow.InvalidTransition, match="no longer affected"):
        workflow.resolve(incident, by=responder, summary="Fixed", confirmed=False)
    assert fresh(incident).status == S.MITIGATED
    workflow.resolve(incident, by=responder, summary="Fixed the config", confirmed=True)
    incident = fresh(incident)
    assert incident.status == S.RESOLVED
    assert incident.resolution_summary == "Fixed the config"
    assert incident.resolution_confirmed_by == responder
    assert incident.resolved_at is not None
    assert incident.timeline.last().data["confirmed"] is True
    assert len(entries(incident)) == 4


def test_nobody_but_a_person_resolves(incident, responder, manager):
    incident = to_status(incident, S.MITIGATED, responder, manager)
    with pytest.raises(PermissionDenied):
        workflow.resolve(incident, by=None, summary="auto", confirmed=True)


def test_close_after_resolve(incident, responder, manager):
    incident = to_status(incident, S.RESOLVED, responder, manager)
    workflow.close(incident, by=manager)
    incident = fresh(incident)
    assert incident.status == S.CLOSED and incident.closed_at is not None
    assert len(entries(incident)) == 5


def test_reopen_with_reason(incident, responder, manager):
    incident = to_status(incident, S.RESOLVED, responder, manager)
    with pytest.raises(workflow.InvalidTransition, match="why"):
        workflow.reopen(incident, by=responder, reason="")
    workflow.reopen(incident, by=responder, reason="Errors are back")
    incident = fresh(incident)
    assert incident.status == S.ACKNOWLEDGED
    assert incident.resolved_at is None and incident.resolution_summary == ""
    entry = incident.timeline.last()
    assert entry.data["reopened"] is True and entry.text == "Errors are back"
    assert entry.data["resolution_summary"] == "Fixed"
    assert len(entries(incident)) == 5


def test_reopen_clears_who_confirmed_the_resolution_and_the_next_resolution_replaces_it(
    clients, incident, responder, other_responder, manager
):
    incident = to_status(incident, S.RESOLVED, responder, manager)
    first = fresh(incident)
    assert first.resolution_confirmed_by == responder and first.resolved_at is not None

    workflow.reopen(incident, by=other_responder, reason="Errors are back")
    reopened = fresh(incident)
    assert reopened.resolution_confirmed_by is None
    assert reopened.resolved_at is None
    assert reopened.acknowledged_at == first.acknowledged_at  # when it was first acknowledged stays
    assert reopened.timeline.last().data["resolved_at"] == first.resolved_at.isoformat()
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "Confirmed by" not in page  # nobody vouches for a resolution that did not hold

    with time_machine.travel(first.resolved_at + timedelta(hours=1)):
        workflow.resolve(reopened, by=other_responder, summary="Fixed for real", confirmed=True)
    second = fresh(incident)
    assert second.resolution_confirmed_by == other_responder
    assert second.resolved_at == first.resolved_at + timedelta(hours=1)
    assert second.resolution_summary == "Fixed for real"
    # The timeline keeps who confirmed the first resolution.
    resolutions = incident.timeline.filter(kind=K.STATUS_CHANGE, data__new=S.RESOLVED.value).order_by("pk")
    assert [entry.author for entry in resolutions] == [responder, other_responder]


def test_reopening_an_incident_resolved_without_acknowledgement_acknowledges_it_now(incident, responder):
    workflow.resolve(incident, by=responder, summary="It was a false alarm", confirmed=True)
    assert fresh(incident).acknowledged_at is None
    at = fresh(incident).resolved_at + timedelta(minutes=5)
    with time_machine.travel(at, tick=False):
        workflow.reopen(incident, by=responder, reason="It was not")
    assert fresh(incident).acknowledged_at == at


ILLEGAL = [
    (S.REPORTED, "close"),
    (S.ACKNOWLEDGED, "close"),
    (S.MITIGATED, "close"),
    (S.CLOSED, "close"),
    (S.ACKNOWLEDGED, "acknowledge"),
    (S.MITIGATED, "acknowledge"),
    (S.RESOLVED, "acknowledge"),
    (S.CLOSED, "acknowledge"),
    (S.MITIGATED, "mitigate"),
    (S.RESOLVED, "mitigate"),
    (S.CLOSED, "mitigate"),
    (S.RESOLVED, "resolve"),
    (S.CLOSED, "resolve"),
    (S.REPORTED, "reopen"),
    (S.ACKNOWLEDGED, "reopen"),
    (S.MITIGATED, "reopen"),
    (S.CLOSED, "reopen"),
    (S.RESOLVED, "severity"),
    (S.CLOSED, "severity"),
    (S.CLOSED, "take"),
]


def attempt(verb, incident, responder, manager):
    return {
        "acknowledge": lambda: workflow.acknowledge(incident, by=responder),
        "mitigate": lambda: workflow.mitigate(incident, by=responder),
        "resolve": lambda: workflow.resolve(incident, by=responder, summary="again", confirmed=True),
        "close": lambda: workflow.close(incident, by=manager),
        "reopen": lambda: workflow.reopen(incident, by=responder, reason="why not"),
        "severity": lambda: workflow.change_severity(incident, by=responder, severity="low"),
        "take": lambda: workflow.take(incident, by=manager),
    }[verb]()


@pytest.mark.parametrize("status, verb", ILLEGAL, ids=[f"{v}-when-{s}" for s, v in ILLEGAL])
def test_illegal_moves_are_refused_and_change_nothing(incident, responder, manager, status, verb):
    incident = to_status(incident, status, responder, manager)
    before = (fresh(incident).__dict__.copy(), entries(incident))
    with pytest.raises(workflow.InvalidTransition) as refusal:
        attempt(verb, incident, responder, manager)
    assert incident.ref in str(refusal.value)
    after = (fresh(incident).__dict__.copy(), entries(incident))
    before[0].pop("_state"), after[0].pop("_state")
    assert before == after


@pytest.mark.parametrize("verb", ["acknowledge", "mitigate", "resolve", "reopen", "severity", "take"])
def test_viewers_and_reporters_may_not_respond(incident, viewer, reporter, verb):
    for user in (viewer, reporter):
        with pytest.raises(PermissionDenied):
            attempt(verb, incident, user, user)
    assert entries(incident) == [K.REPORTED]


def test_only_managers_close(incident, responder, manager):
    incident = to_status(incident, S.RESOLVED, responder, manager)
    with pytest.raises(PermissionDenied):
        workflow.close(incident, by=responder)


def test_change_severity_records_old_and_new(incident, responder):
    workflow.change_severity(incident, by=responder, severity="critical", reason="Spreading to EU")
    incident = fresh(incident)
    entry = incident.timeline.last()
    assert (entry.kind, entry.data["old"], entry.data["new"], entry.data["raised"]) == (
        K.SEVERITY_CHANGE,
        "high",
        "critical",
        True,
    )
    assert entry.text == "Spreading to EU"
    assert incident.severity == "critical" and incident.severity_rank == 0
    with pytest.raises(workflow.InvalidTransition, match="already"):
        workflow.change_severity(incident, by=responder, severity="critical")
    with pytest.raises(workflow.InvalidTransition, match="Unknown severity"):
        workflow.change_severity(incident, by=responder, severity="apocalyptic")
    assert len(entries(incident)) == 2


def test_lowering_the_severity_is_not_recorded_as_raised(incident, responder):
    workflow.change_severity(incident, by=responder, severity="low")
    assert incident.timeline.last().data["raised"] is False


@pytest.mark.parametrize("status", [S.ACKNOWLEDGED, S.MITIGATED, S.RESOLVED])
def test_the_lead_can_change_until_the_incident_is_closed(incident, responder, other_responder, manager, status):
    incident = to_status(incident, status, responder, manager)
    workflow.set_lead(incident, by=responder, lead=other_responder)
    assert fresh(incident).lead == other_responder


def test_a_severity_change_makes_an_edit_opened_before_it_stale(incident, responder):
    opened = fresh(incident).version
    workflow.change_severity(incident, by=responder, severity="critical")
    assert fresh(incident).version == opened + 1
    with pytest.raises(workflow.Conflict):
        workflow.edit(incident, by=responder, version=opened, changes={"title": "Mine"})
    assert fresh(incident).title != "Mine"


def test_set_lead_and_take(incident, responder, other_responder, viewer):
    workflow.set_lead(incident, by=responder, lead=other_responder)
    workflow.take(incident, by=responder)
    incident = fresh(incident)
    assert incident.lead == responder
    changes = [(e.data["old"], e.data["new"], e.data["new_id"]) for e in incident.timeline.filter(kind=K.LEAD_CHANGE)]
    assert changes == [(None, "Ola Oncall", other_responder.pk), ("Ola Oncall", "Rob Responder", responder.pk)]
    with pytest.raises(workflow.InvalidTransition, match="already led by Rob Responder"):
        workflow.take(incident, by=responder)
    with pytest.raises(workflow.InvalidTransition, match="not a responder"):
        workflow.set_lead(incident, by=responder, lead=viewer)
    # The escalation starts again for a new lead of an unacknowledged urgent incident: Ola is
    # paged (a page entry, docs/oncall.md); Rob took it himself and is not.
    assert entries(incident) == ["reported", "lead_change", "page", "lead_change"]


def test_leaving_an_incident_without_a_lead_twice_is_refused_by_name(incident, responder):
    with pytest.raises(workflow.InvalidTransition, match=r"is already led by nobody\."):
        workflow.set_lead(incident, by=responder, lead=None)


def test_notes_are_appended_and_empty_ones_refused(incident, responder, reporter, viewer):
    workflow.add_note(incident, by=responder, text="Found it")
    workflow.add_note(incident, by=reporter, text="Still failing for me")  # the reporter's own report
    with pytest.raises(workflow.InvalidTransition):
        workflow.add_note(incident, by=responder, text="  ")
    with pytest.raises(PermissionDenied):
        workflow.add_note(incident, by=viewer, text="hi")
    assert entries(incident) == [K.REPORTED, K.NOTE, K.NOTE]


def test_a_reporter_adds_notes_only_to_their_own_reports(responder, reporter):
    from conftest import make_user
    from incidents import roles

    later = make_incident(by=make_user("rex", roles.REPORTER))  # a reporter with a higher id
    with pytest.raises(PermissionDenied):
        workflow.add_note(later, by=reporter, text="Me too")
    earlier = make_incident(by=reporter)
    with pytest.raises(PermissionDenied):
        workflow.add_note(earlier, by=later.reporter, text="Me too")
    assert entries(later) == entries(earlier) == [K.REPORTED]


def test_a_reporter_with_a_large_id_adds_notes_to_their_own_report(db):
    from conftest import make_user
    from incidents import roles

    reporter = make_user("ria", roles.REPORTER, id=100_000)  # not one of CPython's cached small ints
    incident = make_incident(by=reporter)
    workflow.add_note(incident, by=Incident.objects.get(pk=incident.pk).reporter, text="Still failing")
    assert entries(incident) == [K.REPORTED, K.NOTE]


def test_the_same_lead_twice_is_refused_whatever_their_id(incident, responder):
    from conftest import make_user
    from incidents import roles

    lead = make_user("ron", roles.RESPONDER, id=100_001)  # not one of CPython's cached small ints
    workflow.set_lead(incident, by=responder, lead=lead)
    with pytest.raises(workflow.InvalidTransition, match="already led"):
        workflow.set_lead(fresh(incident), by=responder, lead=lead)


@pytest.mark.parametrize("who", ["viewer", "later_reporter", "earlier_reporter"])
def test_the_workflow_itself_refuses_edits_by_who_may_not_edit(reporter, viewer, who):
    from conftest import make_user
    from incidents import roles

    # Reporters whose id is above and below the report's reporter's: only "the same" is allowed.
    incident = make_incident(by=make_user("ria", roles.REPORTER, id=100_002))
    user = {"viewer": viewer, "later_reporter": make_user("rex", roles.REPORTER, id=100_003)}.get(who, reporter)
    with pytest.raises(PermissionDenied):
        workflow.edit(incident, by=user, version=fresh(incident).version, changes={"title": "Mine"})
    assert fresh(incident).title == "Checkout is down"


def test_a_reporter_edits_their_own_report_only_while_it_is_reported(responder, manager):
    from conftest import make_user
    from incidents import roles

    own = make_user("ria", roles.REPORTER, id=100_004)  # past CPython's cached small ints
    incident = make_incident(by=own)
    workflow.edit(incident, by=own, version=fresh(incident).version, changes={"title": "Mine"})
    incident = to_status(fresh(incident), S.RESOLVED, responder, manager)
    with pytest.raises(PermissionDenied):
        workflow.edit(incident, by=own, version=fresh(incident).version, changes={"title": "Again"})
    assert fresh(incident).title == "Mine"


def test_an_edit_needs_exactly_the_current_version(incident, responder):
    current = fresh(incident).version
    with pytest.raises(workflow.Conflict):
        workflow.edit(incident, by=responder, version=current + 1, changes={"title": "From the future"})
    Incident.objects.filter(pk=incident.pk).update(version=1000)  # past CPython's cached small ints
    workflow.edit(incident, by=responder, version=1000, changes={"title": "Edited"})
    assert (fresh(incident).title, fresh(incident).version) == ("Edited", 1001)


def test_refusals_say_what_the_incident_is(incident, responder, manager):
    incident = to_status(incident, S.ACKNOWLEDGED, responder, manager)
    with pytest.raises(workflow.InvalidTransition) as refusal:
        workflow.close(incident, by=manager)
    assert str(refusal.value) == f"{incident.ref} is acknowledged, so it cannot be closed."
    with pytest.raises(workflow.InvalidTransition) as refusal:
        workflow.acknowledge(incident, by=responder)
    assert str(refusal.value) == f"{incident.ref} is already acknowledged."


def test_post_update_and_visibility(incident, responder):
    update = workflow.post_update(incident, by=responder, message="We are on it", public=True)
    workflow.set_public(incident, by=responder, public=True)
    with pytest.raises(workflow.InvalidTransition):
        workflow.set_public(incident, by=responder, public=True)
    incident = fresh(incident)
    assert incident.public
    last_two = list(incident.timeline.order_by("pk"))[-2:]
    assert last_two[0].data == {"update_id": update.pk, "public": True}
    assert (last_two[1].kind, last_two[1].data) == (K.VISIBILITY, {"old": False, "new": True})


def test_listeners_see_every_entry_inside_the_transaction(incident, responder):
    seen = []

    def listener(entry):
        seen.append((entry.kind, entry.pk is not None))

    workflow.on_entry(listener)
    try:
        workflow.acknowledge(incident, by=responder)
        workflow.add_note(incident, by=responder, text="x")
    finally:
        workflow._entry_listeners.remove(listener)
    assert seen == [(K.STATUS_CHANGE, True), (K.NOTE, True)]


def test_reactivate_a_mitigation_that_did_not_hold(incident, responder, manager):
    workflow.mitigate(incident, by=responder)
    mitigated_at = fresh(incident).mitigated_at
    with pytest.raises(workflow.InvalidTransition, match="why"):
        workflow.reactivate(incident, by=responder, reason=" ")
    workflow.reactivate(incident, by=responder, reason="Errors again")
    assert incident.timeline.last().data["mitigated_at"] == mitigated_at.isoformat()  # the timeline keeps it
    incident = fresh(incident)
    assert incident.status == S.REPORTED  # nobody had acknowledged it
    assert incident.mitigated_at is None
    assert len(entries(incident)) == 3
    incident = to_status(make_incident(by=incident.reporter), S.MITIGATED, responder, manager)
    workflow.reactivate(incident, by=None, reason="The alert group fired again")
    assert fresh(incident).status == S.ACKNOWLEDGED


@pytest.mark.parametrize("status", [S.REPORTED, S.ACKNOWLEDGED, S.RESOLVED, S.CLOSED])
def test_reactivate_only_from_mitigated(incident, responder, manager, status):
    incident = to_status(incident, status, responder, manager)
    with pytest.raises(workflow.InvalidTransition, match="only a mitigated incident"):
        workflow.reactivate(incident, by=responder, reason="x")
    assert fresh(incident).status == status
