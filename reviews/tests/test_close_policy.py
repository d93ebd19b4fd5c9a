"""Critical and High incidents close only once their review is published (settings)."""

import pytest

from incidents import workflow
from incidents.models import Incident
from reviews import lifecycle
from reviews.models import Review
from reviews.tests.factories import make_review, resolved_incident


@pytest.mark.parametrize("severity", ["critical", "high"])
def test_a_severe_incident_needs_a_published_review(severity, reporter, responder, manager):
    incident = resolved_incident(by=reporter, responder=responder, severity=severity)
    with pytest.raises(workflow.InvalidTransition, match="can be closed once") as refusal:
        workflow.close(incident, by=manager)
    assert f'href="/reviews/{incident.ref}/"' in str(refusal.value)

    review = make_review(responder=responder, incident=incident, state=Review.State.IN_REVIEW)
    with pytest.raises(workflow.InvalidTransition):
        workflow.close(incident, by=manager)

    lifecycle.publish(review, by=manager)
    workflow.close(incident, by=manager)
    assert Incident.objects.get(pk=incident.pk).status == "closed"


@pytest.mark.parametrize("severity", ["medium", "low"])
def test_a_minor_incident_closes_without_a_review(severity, reporter, responder, manager):
    incident = resolved_incident(by=reporter, responder=responder, severity=severity)
    workflow.close(incident, by=manager)
    assert Incident.objects.get(pk=incident.pk).status == "closed"


def test_the_policy_follows_settings(settings, reporter, responder, manager):
    settings.REVIEW_REQUIRED_SEVERITIES = ["low"]
    high = resolved_incident(by=reporter, responder=responder, severity="high")
    low = resolved_incident(by=reporter, responder=responder, severity="low")
    workflow.close(high, by=manager)
    with pytest.raises(workflow.InvalidTransition):
        workflow.close(low, by=manager)


def test_a_review_returned_to_draft_blocks_closing_again(reporter, responder, manager):
    incident = resolved_incident(by=reporter, responder=responder, severity="critical")
    review = make_review(responder=responder, manager=manager, incident=incident, state=Review.State.PUBLISHED)
    lifecycle.return_to_draft(review, by=manager, reason="Incomplete.")
    with pytest.raises(workflow.InvalidTransition):
        workflow.close(incident, by=manager)


def test_the_close_button_shows_the_refusal_with_a_working_link(clients, reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder, severity="critical")
    response = clients["manager"].post(f"/incidents/{incident.ref}/close/", follow=True)

    page = response.content.decode()
    assert f'<a href="/reviews/{incident.ref}/">its post-incident review</a>' in page
    assert Incident.objects.get(pk=incident.pk).status == "resolved"


def test_a_medium_incident_may_still_get_a_review_after_closing(reporter, responder, manager):
    incident = resolved_incident(by=reporter, responder=responder, severity="medium")
    workflow.close(incident, by=manager)
    review = lifecycle.start(incident, by=responder)
    assert review.incident_id == incident.pk
