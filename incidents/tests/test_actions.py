"""The workflow through the browser's POSTs: each ends in a redirect, refusals are messages."""

import pytest

from incidents import workflow
from incidents.models import Incident, TimelineEntry
from incidents.tests.factories import make_incident


@pytest.fixture
def incident(reporter):
    return make_incident(by=reporter)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def post(client, incident, action, data=None, **extra):
    return client.post(f"/incidents/{incident.ref}/{action}/", data or {}, follow=True, **extra)


def test_full_response_through_the_pages(clients, incident):
    client = clients["responder"]
    assert "acknowledged" in messages_of(post(client, incident, "acknowledge"))[0]
    post(client, incident, "note", {"text": "Looking at logs"})
    post(client, incident, "mitigate", {"text": "Rolled back"})
    response = post(client, incident, "resolve", {"summary": "Bad deploy reverted", "confirmed": "on"})
    assert response.redirect_chain[-1][0] == f"/incidents/{incident.ref}/"
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds == ["reported", "status_change", "note", "status_change", "status_change"]
    post(clients["manager"], incident, "close")
    incident.refresh_from_db()
    assert incident.status == Incident.Status.CLOSED


def test_resolve_without_confirmation_shows_the_form_error_and_changes_nothing(clients, incident):
    response = clients["responder"].post(f"/incidents/{incident.ref}/resolve/", {"summary": "Fixed"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "Confirm that users are no longer affected" in html
    assert '<details class="disclosure" id="resolve-panel" open>' in html
    # Said first, focused and announced: the error summary is a role=alert with autofocus.
    summary = html.split('id="resolve-errors"', 1)[0].rsplit("<div", 1)[1]
    assert 'role="alert"' in summary and "autofocus" in summary
    incident.refresh_from_db()
    assert incident.status == Incident.Status.REPORTED
    assert incident.timeline.count() == 1


def test_a_mitigation_that_did_not_hold(clients, incident):
    post(clients["responder"], incident, "acknowledge")
    post(clients["responder"], incident, "mitigate", {"text": "Rolled back"})
    bad = clients["responder"].post(f"/incidents/{incident.ref}/reactivate/", {"reason": ""})
    assert bad.status_code == 422
    response = post(clients["responder"], incident, "reactivate", {"reason": "Errors are back"})
    assert f"{incident.ref} is active again." in messages_of(response)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.ACKNOWLEDGED


def test_illegal_move_is_a_message_not_an_error(clients, incident):
    response = post(clients["manager"], incident, "close")
    assert response.status_code == 200
    assert messages_of(response) == [f"{incident.ref} is reported, so it cannot be closed."]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.REPORTED


def test_acknowledge_twice_is_refused_clearly(clients, incident):
    post(clients["responder"], incident, "acknowledge")
    response = post(clients["responder"], incident, "acknowledge")
    assert messages_of(response) == [f"{incident.ref} is already acknowledged."]
    assert incident.timeline.filter(kind=TimelineEntry.Kind.STATUS_CHANGE).count() == 1


@pytest.mark.parametrize("action", ["acknowledge", "take", "mitigate", "resolve", "reopen", "close", "note"])
def test_get_is_not_allowed(clients, incident, action):
    assert clients["manager"].get(f"/incidents/{incident.ref}/{action}/").status_code == 405


def test_next_takes_you_back_to_the_dashboard_but_never_off_site(clients, incident):
    back = clients["responder"].post(f"/incidents/{incident.ref}/take/", {"next": "/"})
    assert back["Location"] == "/"
    evil = clients["responder"].post(f"/incidents/{incident.ref}/acknowledge/", {"next": "https://evil.example/"})
    assert evil["Location"] == f"/incidents/{incident.ref}/"


def test_severity_and_lead_forms(clients, incident, other_responder):
    post(clients["responder"], incident, "severity", {"severity": "critical", "reason": "All regions"})
    post(clients["responder"], incident, "lead", {"lead": other_responder.pk})
    incident.refresh_from_db()
    assert (incident.severity, incident.lead) == ("critical", other_responder)
    bad = clients["responder"].post(f"/incidents/{incident.ref}/severity/", {"severity": "doom"})
    assert bad.status_code == 422
    nonexistent = clients["responder"].post(f"/incidents/{incident.ref}/lead/", {"lead": 999999})
    assert nonexistent.status_code == 422
    incident.refresh_from_db()
    assert incident.lead == other_responder


def test_note_with_htmx_returns_the_timeline_and_an_empty_form(clients, incident):
    response = clients["responder"].post(
        f"/incidents/{incident.ref}/note/", {"text": "**bold** finding"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<div id="timeline-section">' in html
    assert "<strong>bold</strong> finding" in html
    assert "<html" not in html
    assert "**bold**" not in html  # the form came back empty


def test_empty_note_with_htmx_shows_the_error(clients, incident):
    response = clients["responder"].post(f"/incidents/{incident.ref}/note/", {"text": ""}, HTTP_HX_REQUEST="true")
    # 200: htmx 2 swaps only 2xx answers, and the form must come back with its error in it.
    assert response.status_code == 200
    html = response.content.decode()
    assert "This field is required." in html
    assert 'id="note-errors"' in html and 'role="alert"' in html
    assert incident.timeline.count() == 1


def test_timeline_fragment_matches_the_page(clients, incident, responder):
    workflow.add_note(incident, by=responder, text="one")
    workflow.acknowledge(incident, by=responder)
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    fragment = clients["viewer"].get(f"/incidents/{incident.ref}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    import re

    ids = re.compile(r'id="(entry-\d+)"')
    assert ids.findall(page) == ids.findall(fragment) and len(ids.findall(page)) == 3


def test_timeline_is_append_only_in_the_admin(clients, incident):
    html = clients["manager"].get(f"/admin/incidents/incident/{incident.pk}/change/").content.decode()
    assert "timeline-0-DELETE" not in html
    assert clients["manager"].get("/admin/incidents/timelineentry/").status_code == 404


@pytest.mark.parametrize(
    "setup, action, data, message",
    [
        ([], "note", {"text": "x" * 20001}, "at most 20000 characters"),
        ([], "mitigate", {"text": "x" * 20001}, "at most 20000 characters"),
        ([], "resolve", {"summary": "", "confirmed": "on"}, "This field is required."),
        ([], "severity", {"severity": ""}, "This field is required."),
        ([], "lead", {"lead": "not-a-number"}, "Choose one of the listed responders."),
        (["resolve"], "reopen", {"reason": ""}, "This field is required."),
        (["resolve"], "reopen", {"reason": "x" * 2001}, "at most 2000 characters"),
        (["mitigate"], "reactivate", {"reason": "  "}, "This field is required."),
    ],
)
def test_bad_input_to_every_action_form_is_refused_and_changes_nothing(
    clients, incident, responder, setup, action, data, message
):
    if "mitigate" in setup:
        workflow.mitigate(incident, by=responder)
    if "resolve" in setup:
        workflow.resolve(incident, by=responder, summary="Fixed", confirmed=True)
    before = list(incident.timeline.values_list("pk", flat=True))
    response = clients["responder"].post(f"/incidents/{incident.ref}/{action}/", data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert list(incident.timeline.values_list("pk", flat=True)) == before
