"""One incident: fetch it, post a status update, acknowledge, resolve."""

from datetime import datetime, timedelta

import pytest

from incidents import workflow
from incidents.api.tests.support import call, personal_token
from incidents.models import Incident, StatusUpdate, TimelineEntry
from incidents.tests.factories import make_incident


@pytest.fixture
def incident(reporter):
    return make_incident(by=reporter, logs="ERROR 500 at /pay")


@pytest.fixture
def token(responder):
    return personal_token(responder)


# --- fetch -----------------------------------------------------------------------------


def test_it_fetches_an_incident_by_reference(token, incident, responder):
    workflow.post_update(incident, by=responder, message="Investigating.", public=True)
    workflow.post_update(incident, by=responder, message="Team only.", public=False)
    body = call("get", f"/api/incidents/{incident.ref}", token).json()
    assert body["ref"] == incident.ref
    assert body["logs"] == "ERROR 500 at /pay"
    assert body["description"] == incident.description
    assert [(u["message"], u["public"], u["author"]) for u in body["updates"]] == [
        ("Investigating.", True, "rob"),
        ("Team only.", False, "rob"),
    ]


@pytest.mark.parametrize("ref", ["{pk}", "inc-{pk}", "INC{pk}"])
def test_it_accepts_the_reference_in_other_spellings(token, incident, ref):
    response = call("get", "/api/incidents/" + ref.format(pk=incident.pk), token)
    assert response.json()["ref"] == incident.ref


@pytest.mark.parametrize("ref", ["INC-999999", "INC-", "nonsense", "INC-1%00", "INC-99999999999999999999"])
def test_an_unknown_reference_is_a_404_json(token, incident, ref):
    response = call("get", f"/api/incidents/{ref}", token)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "no incident" in response.json()["detail"]


def test_a_wrong_method_is_a_405(token, incident):
    assert call("delete", f"/api/incidents/{incident.ref}", token).status_code == 405


# --- status updates --------------------------------------------------------------------


def test_it_posts_a_public_status_update(token, incident, responder):
    url = f"/api/incidents/{incident.ref}/updates"
    response = call("post", url, token, {"message": "  We are rolling back.  ", "public": True})
    assert response.status_code == 201
    update = StatusUpdate.objects.get()
    body = response.json()
    created_at = datetime.fromisoformat(body.pop("created_at"))
    assert body == {"id": update.pk, "message": "We are rolling back.", "public": True, "author": "rob"}
    # Times are written to the millisecond.
    assert abs(created_at - update.created_at) < timedelta(milliseconds=1)
    entry = incident.timeline.get(kind=TimelineEntry.Kind.STATUS_UPDATE)
    assert (entry.author, entry.data["public"], entry.data["update_id"]) == (responder, True, update.pk)


def test_a_status_update_is_internal_unless_said_otherwise(token, incident):
    call("post", f"/api/incidents/{incident.ref}/updates", token, {"message": "Team only."})
    assert StatusUpdate.objects.get().public is False


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({}, "message", "This field is required."),
        ({"message": "   "}, "message", "This field is required."),
        ({"message": "x" * 5001}, "message", "at most 5000 characters"),  # the incident page's limit too
        ({"message": "a\x00b"}, "message", "Null characters"),
        ({"message": "a\udfffb"}, "message", "unpaired surrogate"),
        ({"message": "ok", "public": "sometimes"}, "public", "valid boolean"),
        ({"message": "ok", "visibility": "public"}, "visibility", "Unknown field."),
    ],
)
def test_a_bad_status_update_is_a_422_naming_the_field(token, incident, body, field, message):
    response = call("post", f"/api/incidents/{incident.ref}/updates", token, body)
    assert response.status_code == 422
    found = {error["field"]: error["message"] for error in response.json()["detail"]}
    assert message in found[field]
    assert not StatusUpdate.objects.exists()


def test_a_closed_incident_takes_no_updates_409(token, incident, responder, manager):
    workflow.resolve(incident, by=responder, summary="Fixed.", confirmed=True)
    workflow.close(incident, by=manager)
    response = call("post", f"/api/incidents/{incident.ref}/updates", token, {"message": "Late news."})
    assert response.status_code == 409
    assert response.json() == {"detail": f"{incident.ref} is closed."}


def test_a_status_update_to_an_unknown_incident_is_a_404(token):
    assert call("post", "/api/incidents/INC-999999/updates", token, {"message": "x"}).status_code == 404


# --- acknowledge and resolve -----------------------------------------------------------


def test_it_acknowledges_and_the_caller_leads(token, incident, responder):
    response = call("post", f"/api/incidents/{incident.ref}/acknowledge", token)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["lead"]) == ("acknowledged", "rob")
    incident.refresh_from_db()
    assert (incident.status, incident.lead) == (Incident.Status.ACKNOWLEDGED, responder)
    again = call("post", f"/api/incidents/{incident.ref}/acknowledge", token)
    assert again.status_code == 409
    assert "already acknowledged" in again.json()["detail"]


def test_it_resolves_with_a_confirmed_summary(token, incident, responder):
    body = {"summary": "Rolled back release 42.", "confirmed": True}
    response = call("post", f"/api/incidents/{incident.ref}/resolve", token, body)
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    assert response.json()["resolution_summary"] == "Rolled back release 42."
    incident.refresh_from_db()
    assert incident.resolution_confirmed_by == responder
    assert call("post", f"/api/incidents/{incident.ref}/resolve", token, body).status_code == 409


@pytest.mark.parametrize(
    "body, field",
    [
        ({"summary": "Fixed."}, "confirmed"),
        ({"summary": "Fixed.", "confirmed": False}, "confirmed"),
        ({"summary": " ", "confirmed": True}, "summary"),
        ({"summary": "a\x00", "confirmed": True}, "summary"),
        ({"summary": "a\udfff", "confirmed": True}, "summary"),
        # The same limit as the resolve form on the incident page.
        ({"summary": "x" * 20001, "confirmed": True}, "summary"),
    ],
)
def test_resolving_needs_a_summary_and_the_confirmation(token, incident, body, field):
    response = call("post", f"/api/incidents/{incident.ref}/resolve", token, body)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["detail"]] == [field]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.REPORTED
