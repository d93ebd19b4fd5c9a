"""PATCH /api/incidents/{ref}: the edit page's change of the report, its type and custom fields,
with the version read (incidents/api/actions.py edit_incident)."""

import pytest

from incidents import workflow
from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import CustomField, Incident, IncidentType, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident


@pytest.fixture
def performance():
    """A type with a required choice and an optional number."""
    kind = IncidentType.objects.get(slug="performance")
    CustomField.objects.create(type=kind, label="Region", kind="choice", choices="eu\nus", required=True, position=1)
    CustomField.objects.create(type=kind, label="Latency ms", kind="number", position=2)
    return kind


def _patch(incident, token, **body):
    body.setdefault("version", Incident.objects.get(pk=incident.pk).version)
    return call("patch", f"/api/incidents/{incident.ref}", token, body)


def test_changing_fields_keeps_the_rest_and_records_one_edit(reporter, responder):
    incident = make_incident(by=reporter)
    ServiceFactory(name="Search", slug="search")
    response = _patch(incident, personal_token(responder), title="Checkout is slow", service="search")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["title"] == "Checkout is slow" and body["service"]["slug"] == "search"
    assert body["description"] == "Card payments fail with a 500." and body["version"] == 2
    entry = incident.timeline.get(kind=TimelineEntry.Kind.EDIT)
    assert set(entry.data["changes"]) == {"title", "service"} and entry.data["via"] == "api"


def test_changing_the_type_and_its_custom_fields(reporter, responder, performance):
    incident = make_incident(by=reporter)
    token = personal_token(responder)
    missing = _patch(incident, token, type="performance")
    assert missing.status_code == 422
    assert {"field": "fields.region", "message": "Choose one."} in missing.json()["detail"]
    assert Incident.objects.get(pk=incident.pk).type.slug == "downtime"
    done = _patch(incident, token, type="performance", fields={"region": "eu", "latency_ms": 900})
    assert done.status_code == 200, done.json()
    assert done.json()["type"] == "performance" and done.json()["fields"] == {"region": "eu", "latency_ms": 900}
    # Later, one field at a time; null unsets an optional one.
    again = _patch(incident, token, fields={"latency_ms": None, "region": "us"})
    assert again.json()["fields"] == {"region": "us"}


def test_a_stale_version_is_a_conflict_with_the_current_incident(reporter, responder, other_responder):
    incident = make_incident(by=reporter)
    assert _patch(incident, personal_token(responder), title="Mine").status_code == 200
    response = _patch(incident, personal_token(other_responder), title="Theirs", version=1)
    assert response.status_code == 409
    assert response.json()["current"]["title"] == "Mine" and response.json()["current"]["version"] == 2
    assert Incident.objects.get(pk=incident.pk).title == "Mine"


@pytest.mark.parametrize(
    "who, own, status",
    [("responder", False, 200), ("manager", False, 200), ("reporter", True, 200), ("reporter", False, 403)]
    + [("viewer", False, 403), ("integration", False, 403)],
)
def test_who_may_edit_is_who_may_on_the_page(who, own, status, users, reporter, manager):
    incident = make_incident(by=reporter if own else manager)
    token = integration_token() if who == "integration" else personal_token(users[who])
    response = _patch(incident, token, title="Edited")
    assert response.status_code == status
    assert (Incident.objects.get(pk=incident.pk).title == "Edited") == (status == 200)


def test_a_reporter_may_not_edit_once_someone_acknowledged(reporter, responder):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    assert _patch(incident, personal_token(reporter), title="Edited").status_code == 403


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"title": None}, "title", "Leave it out to keep it; it cannot be null."),
        ({"title": "   "}, "title", "This field is required."),
        ({"service": "nope"}, "service", "There is no service with the slug “nope”."),
        ({"service": "100%"}, "service", "There is no service with the slug “100%”."),
        ({"occurred_at": 1700000000}, "occurred_at", "Enter a date and time like 2026-03-01T14:05:00+01:00."),
        ({"version": 1.0}, "version", "Input should be a valid integer."),
        ({"type": "nope"}, "type", "Choose one of the listed incident types."),
        ({"fields": {"ghost": 1}}, "fields.ghost", None),
        ({"severity": "low"}, "severity", "Unknown field."),
        ({"occurred_at": "2199-01-01T00:00:00Z"}, "occurred_at", None),
    ],
)
def test_bad_edits_name_the_field_and_change_nothing(reporter, responder, body, field, message):
    incident = make_incident(by=reporter)
    response = _patch(incident, personal_token(responder), **body)
    assert response.status_code == 422, response.json()
    assert field in [e["field"] for e in response.json()["detail"]], response.json()
    if message:
        assert {"field": field, "message": message} in response.json()["detail"]
    assert Incident.objects.get(pk=incident.pk).version == 1
    assert not incident.timeline.filter(kind=TimelineEntry.Kind.EDIT).exists()


def test_a_restricted_incident_is_not_found(reporter, responder):
    secret = make_incident(by=reporter, restricted=True)
    assert _patch(secret, personal_token(responder), title="x").status_code == 404
