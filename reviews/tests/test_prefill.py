from datetime import timedelta

import pytest
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Incident, TimelineEntry
from reviews import lifecycle, prefill
from reviews.tests.factories import resolved_incident


def _set_times(incident, **times):
    # The workflow stamps "now"; tests of durations need known moments.
    Incident.objects.filter(pk=incident.pk).update(**times)
    incident.refresh_from_db()
    return incident


def test_it_prefills_summary_impact_and_timeline(reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder, description="Payments fail.", impact="All buyers.")
    workflow.add_note(incident, by=responder, text="Looking at the **deploy** log.")
    review = lifecycle.start(incident, by=responder)

    assert review.summary.startswith("Payments fail.")
    assert "Rolled back release 42." in review.summary
    assert review.impact == "All buyers."
    lines = review.timeline.splitlines()
    assert lines[0].startswith("- **") and "Reported as High (Rita Reporter)" in lines[0]
    assert any("Acknowledged" in line and "Rob Responder" in line for line in lines)
    assert any("Resolved: Rolled back release 42." in line for line in lines)
    assert any("Note: Looking at the **deploy** log." in line for line in lines)
    assert review.root_cause == ""
    assert list(review.authors.all()) == [responder]


def test_editing_the_review_timeline_leaves_the_incident_timeline_untouched(reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder)
    before = list(TimelineEntry.objects.filter(incident=incident).values_list("pk", "text"))
    review = lifecycle.start(incident, by=responder)
    lifecycle.edit(review, by=responder, version=review.version, changes={"timeline": "rewritten"})

    after = list(TimelineEntry.objects.filter(incident=incident).exclude(kind="review").values_list("pk", "text"))
    assert after == before
    # Starting the review is itself noted on the incident's timeline, once.
    assert incident.timeline.filter(kind="review", data__event="started").count() == 1


def test_key_times_and_derived_durations(reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder)
    t0 = now() - timedelta(hours=5)
    incident = _set_times(
        incident,
        occurred_at=t0,
        reported_at=t0 + timedelta(minutes=10),
        acknowledged_at=t0 + timedelta(minutes=15),
        mitigated_at=t0 + timedelta(minutes=40),
        resolved_at=t0 + timedelta(hours=3),
    )
    durations = dict(prefill.key_times(incident).durations)

    assert durations["Time to detect (started → reported)"] == timedelta(minutes=10)
    assert durations["Time to acknowledge (reported → acknowledged)"] == timedelta(minutes=5)
    assert durations["Time to mitigate (reported → mitigated)"] == timedelta(minutes=30)
    assert durations["Time to resolve (reported → resolved)"] == timedelta(hours=2, minutes=50)
    assert durations["User impact (started → mitigated, or resolved)"] == timedelta(minutes=40)


def test_user_impact_runs_to_resolution_when_never_mitigated(reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder, mitigate=False)
    t0 = now() - timedelta(hours=2)
    incident = _set_times(incident, occurred_at=t0, reported_at=t0, resolved_at=t0 + timedelta(minutes=90))
    times = prefill.key_times(incident)

    assert times.user_impact == timedelta(minutes=90)
    assert dict(times.durations)["Time to mitigate (reported → mitigated)"] is None


def test_it_shows_key_times_on_the_review_page(clients, reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder)
    lifecycle.start(incident, by=responder)
    page = clients["viewer"].get(f"/reviews/{incident.ref}/").content.decode()

    assert "Time to acknowledge (reported → acknowledged)" in page
    assert "User impact (started → mitigated, or resolved)" in page


@pytest.mark.parametrize("status", ["reported", "acknowledged", "mitigated"])
def test_it_refuses_to_start_before_resolution(status, reporter, responder):
    from incidents.tests.factories import make_incident

    incident = make_incident(by=reporter)
    if status != "reported":
        workflow.acknowledge(incident, by=responder)
    if status == "mitigated":
        workflow.mitigate(incident, by=responder)
    with pytest.raises(workflow.InvalidTransition, match="once it is resolved"):
        lifecycle.start(incident, by=responder)


def test_starting_twice_returns_the_same_review(reporter, responder, other_responder):
    incident = resolved_incident(by=reporter, responder=responder)
    first = lifecycle.start(incident, by=responder)
    second = lifecycle.start(incident, by=other_responder)

    assert first.pk == second.pk
    assert incident.timeline.filter(kind="review").count() == 1


def test_the_drafted_timeline_says_who_took_which_role_and_what_was_ticked(reporter, responder):
    from incidents.models import ResponseRole

    incident = resolved_incident(by=reporter, responder=responder)
    workflow.assign_role(incident, by=responder, role=ResponseRole.objects.get(slug="scribe"), user=responder)
    task = incident.tasks.first()
    workflow.tick_task(incident, by=responder, task=task, done=True)
    workflow.assign_task(incident, by=responder, task=task, user=reporter)
    lines = lifecycle.start(incident, by=responder).timeline.splitlines()
    assert any("Scribe: nobody → Rob Responder" in line for line in lines)
    assert any(f"Task ticked: {task.title}" in line for line in lines)
    assert any(f"Task assigned: {task.title} → Rita Reporter" in line for line in lines)
