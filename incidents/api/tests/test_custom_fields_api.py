"""POST /api/incidents takes the type's custom fields as `fields: {name: value}`; GET returns them.
Every bad value is a 422 naming `fields.<name>`, and nothing is written."""

import pytest

from incidents.api.tests.support import call, integration_token, personal_token, report_body
from incidents.models import CustomField, Incident, IncidentType, Notification, TimelineEntry
from incidents.tests.factories import ServiceFactory

Kind = CustomField.Kind
URL = "/api/incidents"


@pytest.fixture
def setup(db, reporter, manager):
    ServiceFactory(name="Checkout", slug="checkout")
    security = IncidentType.objects.get(slug="security")
    CustomField.objects.create(
        type=security, label="Data affected?", kind=Kind.CHOICE, choices="yes\nno\nunknown", required=True, position=1
    )
    CustomField.objects.create(type=security, label="Records exposed", kind=Kind.NUMBER, position=2)
    CustomField.objects.create(type=security, label="Detected on", kind=Kind.DATE, position=3)
    CustomField.objects.create(type=security, label="Legal contact", kind=Kind.USER, position=4)
    CustomField.objects.create(type=security, label="Ticket", kind=Kind.TEXT, position=5)
    return {"reporter": personal_token(reporter), "manager": personal_token(manager, name="m")}


def test_fields_are_stored_and_returned_by_name(setup, manager):
    fields = {
        "data_affected": "YES",  # a choice in any case is stored as written in the admin
        "records_exposed": 12.5,
        "detected_on": "2026-01-05",
        "legal_contact": manager.username,
        "ticket": "SEC-1",
    }
    response = call("post", URL, setup["manager"], report_body(type="security", fields=fields))
    assert response.status_code == 201, response.content
    expected = {**fields, "data_affected": "yes"}
    assert response.json()["fields"] == expected
    incident = Incident.objects.get()
    assert incident.custom_fields["legal_contact"] == manager.pk
    assert call("get", f"{URL}/{incident.ref}", setup["manager"]).json()["fields"] == expected


def test_unset_fields_are_absent_and_null_leaves_one_unset(setup):
    body = report_body(type="security", fields={"data_affected": "no", "ticket": None})
    response = call("post", URL, setup["manager"], body)
    assert response.status_code == 201, response.content
    assert response.json()["fields"] == {"data_affected": "no"}


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"data_affected": "no", "colour": "red"}, "fields.colour", "Unknown field for the type security"),
        ({"data_affected": "no", "ticket": 42}, "fields.ticket", "Enter text (a JSON string)."),
        ({"data_affected": "no", "records_exposed": "many"}, "fields.records_exposed", "Enter a number"),
        ({"data_affected": "no", "records_exposed": True}, "fields.records_exposed", "Enter a number"),
        ({"data_affected": "maybe"}, "fields.data_affected", "Choose one of: yes, no, unknown."),
        ({"data_affected": ["yes"]}, "fields.data_affected", "Choose one of: yes, no, unknown."),
        ({"data_affected": "no", "detected_on": "05/01/2026"}, "fields.detected_on", "Enter a date like 2026-12-31."),
        ({"data_affected": "no", "detected_on": "2026-02-30"}, "fields.detected_on", "Enter a date like 2026-12-31."),
        ({"data_affected": "no", "legal_contact": "ghost"}, "fields.legal_contact", "There is no Beacon user"),
        ({"records_exposed": 3}, "fields.data_affected", "Choose one."),
        ({"data_affected": "no", "ticket": "a\x00b"}, "fields.ticket", "cannot store"),
    ],
)
def test_bad_values_are_422_naming_the_field_and_nothing_is_written(setup, fields, field, message):
    response = call("post", URL, setup["manager"], report_body(type="security", fields=fields))
    assert response.status_code == 422, response.content
    errors = response.json()["detail"]
    assert [e["field"] for e in errors] == [field], errors
    assert message in errors[0]["message"]
    assert not Incident.objects.exists()
    assert not TimelineEntry.objects.exists()
    assert not Notification.objects.exists()


def test_report_errors_and_field_errors_come_together(setup):
    body = report_body(type="security", title="", fields={"data_affected": "maybe"})
    errors = call("post", URL, setup["manager"], body).json()["detail"]
    assert {e["field"] for e in errors} == {"title", "fields.data_affected"}


def test_a_type_without_fields_refuses_any(setup):
    response = call("post", URL, setup["manager"], report_body(type="downtime", fields={"ticket": "x"}))
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "fields.ticket", "message": "Unknown field for the type downtime (its fields: none)."}
    ]


def test_a_bad_type_name_is_still_named(setup):
    response = call("post", URL, setup["manager"], report_body(type="earthquake", fields={"x": 1}))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "type"


def test_fields_must_be_an_object(setup):
    response = call("post", URL, setup["manager"], report_body(type="security", fields=["yes"]))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "fields"


def test_an_integration_reporting_a_restricted_incident_gets_no_values_back(setup):
    response = call(
        "post", URL, integration_token(), report_body(type="security", fields={"data_affected": "yes", "ticket": "T"})
    )
    assert response.status_code == 201
    assert response.json()["fields"] == {}  # the receipt: nothing it wrote
    assert Incident.objects.get().custom_fields == {"data_affected": "yes", "ticket": "T"}


def test_the_schema_documents_fields(setup, client):
    schema = call("get", "/api/openapi.json", setup["manager"]).json()
    components = schema["components"]["schemas"]
    assert "fields" in components["IncidentIn"]["properties"]
    assert "fields" in components["IncidentOut"]["properties"]
    assert "fields.<name>" in components["IncidentIn"]["properties"]["fields"]["description"]
