"""Custom fields from alert labels and annotations of the same name. An invalid value never loses
the alert: the incident opens, the field stays not set, and the timeline says why."""

import pytest

from incidents.alerts.tests import support
from incidents.alerts.tests.support import load
from incidents.models import Alert, CustomField, Incident, IncidentType, TimelineEntry

Kind = CustomField.Kind
# The intake tests' fixtures: a poster with an integration's token.
am, integration = support.am, support.integration


@pytest.fixture
def fields(db):
    security = IncidentType.objects.get(slug="security")
    CustomField.objects.create(
        type=security, label="Data affected?", kind=Kind.CHOICE, choices="yes\nno\nunknown", required=True
    )
    CustomField.objects.create(type=security, label="Records exposed", kind=Kind.NUMBER)
    CustomField.objects.create(type=security, label="Detected on", kind=Kind.DATE)
    CustomField.objects.create(type=security, label="Runbook ticket", kind=Kind.TEXT)


def payload(labels: dict, annotations: dict | None = None) -> dict:
    body = load("firing")
    body["commonLabels"] = {**body["commonLabels"], "incident_type": "security", **labels}
    body["commonAnnotations"] = {**body["commonAnnotations"], **(annotations or {})}
    return body


def test_valid_values_come_from_labels_and_annotations(am, fields):
    response = am.post(payload({"data_affected": "Yes", "records_exposed": "40"}, {"runbook_ticket": "SEC-9"}))
    assert response.status_code == 200, response.content
    assert "warnings" not in response.json()
    incident = Incident.objects.get()
    assert incident.custom_fields == {"data_affected": "yes", "records_exposed": 40, "runbook_ticket": "SEC-9"}
    assert not incident.timeline.filter(data__has_key="custom_fields_not_set").exists()


def test_a_label_wins_over_an_annotation_of_the_same_name(am, fields):
    am.post(payload({"runbook_ticket": "from-label"}, {"runbook_ticket": "from-annotation"}))
    assert Incident.objects.get().custom_fields["runbook_ticket"] == "from-label"


def test_invalid_values_are_left_not_set_and_noted_without_losing_the_alert(am, fields):
    response = am.post(payload({"data_affected": "perhaps", "records_exposed": "lots", "detected_on": "2026-01-02"}))
    assert response.status_code == 200  # a 4xx would make Alertmanager drop the alert
    incident = Incident.objects.get()
    assert incident.custom_fields == {"detected_on": "2026-01-02"}
    assert Alert.objects.filter(group__incident=incident).count() == 1
    note = incident.timeline.get(data__has_key="custom_fields_not_set")
    assert note.kind == TimelineEntry.Kind.NOTE and note.author is None
    assert note.data["custom_fields_not_set"] == ["data_affected", "records_exposed"]
    assert "“perhaps” — Choose one of: yes, no, unknown." in note.text
    assert "“lots” — Enter a number" in note.text
    warnings = response.json()["warnings"]
    assert {w["field"] for w in warnings} == {"labels.data_affected", "labels.records_exposed"}
    # Applying the same payload again changes nothing: no second note.
    am.post(payload({"data_affected": "perhaps", "records_exposed": "lots", "detected_on": "2026-01-02"}))
    assert incident.timeline.filter(data__has_key="custom_fields_not_set").count() == 1


def test_the_note_and_the_answer_name_each_invalid_value_its_first_200_characters_quoted(am, fields):
    value = "9" * 150 + "x" * 150
    response = am.post(payload({"records_exposed": value, "data_affected": "perhaps"}))
    assert response.status_code == 200, response.content
    note = Incident.objects.get().timeline.get(data__has_key="custom_fields_not_set")
    assert note.text == (
        "Alert labels gave invalid values for these fields; they were left not set:\n\n"
        "- `data_affected`: “perhaps” — Choose one of: yes, no, unknown.\n"
        f"- `records_exposed`: “{value[:200]}” — Enter a number, like 42 or 3.5."
    )
    assert response.json()["warnings"] == [
        {"field": "labels.data_affected", "message": "Left not set: Choose one of: yes, no, unknown."},
        {"field": "labels.records_exposed", "message": "Left not set: Enter a number, like 42 or 3.5."},
    ]


def test_labels_of_another_types_fields_are_ignored(am, fields):
    body = load("firing")
    body["commonLabels"]["data_affected"] = "yes"  # a downtime incident has no such field
    assert am.post(body).status_code == 200
    assert Incident.objects.get().custom_fields == {}
