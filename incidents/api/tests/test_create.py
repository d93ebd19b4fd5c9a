"""POST /api/incidents: the report form's fields and checks, as JSON."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils.timezone import now

from incidents.api.tests.support import call, personal_token, report_body
from incidents.forms import LOGS_MAX
from incidents.inbound import MAX_BODY_BYTES
from incidents.models import Incident, TimelineEntry
from incidents.tests.factories import ServiceFactory

URL = "/api/incidents"


@pytest.fixture
def token(reporter):
    ServiceFactory(name="Checkout")
    return personal_token(reporter)


def report(**fields):
    """report_body() with every field the API takes, the optional time and logs included."""
    return report_body(
        **{
            "severity": "critical",
            "occurred_at": "2026-03-01T14:05:00+01:00",
            "logs": "Traceback (most recent call last): …",
            **fields,
        }
    )


def errors(response) -> dict[str, str]:
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/json")
    return {error["field"]: error["message"] for error in response.json()["detail"]}


def test_it_reports_an_incident(token, reporter):
    response = call("post", URL, token, report())
    assert response.status_code == 201
    body = response.json()
    incident = Incident.objects.get()
    assert body["ref"] == incident.ref
    assert response["Location"] == f"http://testserver/api/incidents/{incident.ref}"
    assert body["title"] == incident.title == "Checkout returns 500"
    assert body["severity"] == "critical"
    assert body["status"] == "reported"
    assert body["service"] == {"slug": "checkout", "name": "Checkout"}
    assert body["source"] == "api"
    assert body["reporter"] == "rita"
    assert body["logs"] == incident.logs == "Traceback (most recent call last): …"
    assert body["url"].endswith(f"/incidents/{incident.ref}/")
    assert incident.reporter == reporter
    assert incident.source == Incident.Source.API
    assert incident.occurred_at == datetime(2026, 3, 1, 13, 5, tzinfo=UTC)
    assert body["occurred_at"] == "2026-03-01T13:05:00Z"
    entry = incident.timeline.get()
    assert (entry.kind, entry.author, entry.data["source"]) == (TimelineEntry.Kind.REPORTED, reporter, "api")
    # The Location answers with the same incident.
    assert call("get", response["Location"], token).json() == body


def test_the_created_incident_is_the_same_as_the_form_would_make(token):
    call("post", URL, token, report(title="  Spaces around  "))
    assert Incident.objects.get().title == "Spaces around"


def test_a_time_without_offset_is_read_in_the_site_time_zone(token, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    response = call("post", URL, token, report(occurred_at="2026-07-01T12:00:00"))
    assert response.status_code == 201
    assert Incident.objects.get().occurred_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_occurred_at_defaults_to_now(token):
    before = now()
    assert call("post", URL, token, report(occurred_at=...)).status_code == 201
    assert before <= Incident.objects.get().occurred_at <= now()


def test_a_time_a_little_ahead_is_not_the_future(token):
    # Clocks drift; the form allows two minutes (forms.FUTURE_TOLERANCE), and so does the API.
    ahead = (now() + timedelta(minutes=1)).isoformat()
    assert call("post", URL, token, report(occurred_at=ahead)).status_code == 201


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"title": ...}, "title", "This field is required."),
        ({"title": "   "}, "title", "This field is required."),
        ({"title": "x" * 201}, "title", "at most 200 characters"),
        ({"title": None}, "title", "valid string"),
        ({"description": ...}, "description", "This field is required."),
        ({"description": ""}, "description", "This field is required."),
        ({"impact": ...}, "impact", "This field is required."),
        ({"service": ...}, "service", "This field is required."),
        ({"service": "no-such-service"}, "service", "no service with the slug “no-such-service”"),
        ({"service": 7}, "service", "valid string"),
        ({"severity": ...}, "severity", "This field is required."),
        ({"severity": "urgent"}, "severity", "'critical', 'high', 'medium' or 'low'"),
        ({"severity": "Critical"}, "severity", "'critical', 'high', 'medium' or 'low'"),
        ({"occurred_at": "yesterday"}, "occurred_at", "Enter a date and time like 2026-03-01T14:05:00+01:00."),
        ({"occurred_at": "2026-02-30T10:00:00Z"}, "occurred_at", "valid datetime"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at", "cannot lie in the future"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at", "outside the range"),
        ({"logs": ["a", "b"]}, "logs", "valid string"),
        ({"public": True}, "public", "Unknown field."),
        ({"severty": "high"}, "severty", "Unknown field."),
    ],
)
def test_bad_input_is_a_422_naming_the_field(token, fields, field, message):
    response = call("post", URL, token, report(**fields))
    assert message in errors(response)[field]
    assert not Incident.objects.exists()


@pytest.mark.parametrize("field", ["title", "description", "impact", "logs", "service"])
@pytest.mark.parametrize("bad, message", [("a\x00b", "Null characters"), ("a\ud800b", "unpaired surrogate")])
def test_characters_the_database_cannot_store_are_a_422_not_a_500(token, field, bad, message):
    # json.dumps writes these as \u0000 and \ud800 escapes, as a client would.
    response = call("post", URL, token, report(**{field: bad}))
    assert message in errors(response)[field]
    assert not Incident.objects.exists()


def test_several_bad_fields_are_named_together(token):
    response = call("post", URL, token, report(title=..., severity="huge", impact=...))
    assert set(errors(response)) == {"title", "severity", "impact"}


def test_an_unknown_service_is_named_with_the_other_bad_fields(token):
    response = call("post", URL, token, report(service="no-such-service", title="   ", occurred_at="2999-01-01T00:00Z"))
    assert set(errors(response)) == {"service", "title", "occurred_at"}


def test_a_content_length_that_is_not_a_number_is_a_400(token):
    response = call("post", URL, token, report(), CONTENT_LENGTH="lots")
    assert response.status_code == 400
    assert response.json() == {"detail": "The Content-Length header is not a number."}
    assert not Incident.objects.exists()


def test_invalid_json_is_a_400(token):
    response = call("post", URL, token, '{"title": "unterminated')
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body is not valid JSON."}
    assert not Incident.objects.exists()


def test_a_body_that_is_not_utf8_is_a_400(token):
    assert call("post", URL, token, b'{"title": "\xff\xfe"}').status_code == 400


@pytest.mark.parametrize("body", ["[]", '"a string"', "42", "null", ""])
def test_a_body_that_is_not_an_object_is_a_422(token, body):
    response = call("post", URL, token, body)
    assert list(errors(response)) == ["body"]
    assert not Incident.objects.exists()


def test_a_body_over_one_mib_is_a_413(token):
    body = report(logs="x" * MAX_BODY_BYTES)
    response = call("post", URL, token, body)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert not Incident.objects.exists()


def test_a_body_just_under_one_mib_is_read_and_judged_by_its_fields(token):
    body = report(logs="")
    room = MAX_BODY_BYTES - len(json.dumps(body).encode())
    # Not refused for its size (413) but for its logs, which have their own limit.
    response = call("post", URL, token, report(logs="x" * room))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "logs"
    # Within every field's limit, a body of many non-ASCII characters is taken whole.
    logs = "é" * LOGS_MAX
    response = call("post", URL, token, report(logs=logs))
    assert response.status_code == 201
    assert Incident.objects.get().logs == logs


def test_a_viewer_may_not_report(viewer):
    ServiceFactory(name="Checkout")
    response = call("post", URL, personal_token(viewer), report())
    assert response.status_code == 403
    assert not Incident.objects.exists()
