"""POST /integrations/grafana/ with Grafana Alerting's webhook payloads (fixtures/grafana/README.md).

Grafana's notifier is an embedded Alertmanager, so its deliveries go through the same intake:
these tests check that Grafana's shape is read, and that every promise of the Alertmanager
intake (grouping, idempotency, resolved means mitigated, the error contract) holds for it.
"""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from incidents.alerts.tests.support import Poster, make_integration
from incidents.alerts.tests.support import load as load_alertmanager
from incidents.models import Alert, AlertGroup, Incident, Integration, TimelineEntry

URL = "/integrations/grafana/"
FIXTURES = Path(__file__).parent / "fixtures" / "grafana"
FIXTURE_NAMES = [
    "firing",
    "resolved",
    "firing-grouped-3",
    "partly-resolved-grouped-3",
    "resolved-grouped-3",
    "no-data",
]
Kind = TimelineEntry.Kind


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def nothing_stored() -> bool:
    return not Incident.objects.exists() and not Alert.objects.exists() and not TimelineEntry.objects.exists()


@pytest.fixture
def grafana_integration(db):
    return make_integration(name="grafana-prod", kind=Integration.Kind.GRAFANA)


@pytest.fixture
def grafana(grafana_integration) -> Poster:
    return Poster(grafana_integration[1], url=URL)


def only_incident() -> Incident:
    assert Incident.objects.count() == 1
    return Incident.objects.get()


# --- each fixture ------------------------------------------------------------------------------


def test_a_firing_notification_opens_an_incident_from_its_labels_and_annotations(grafana):
    response = grafana.post(load("firing"))

    assert response.status_code == 200, response.content
    body = response.json()
    incident = only_incident()
    assert body["created"] is True and body["incident"] == incident.ref and body["type"] == "downtime"
    assert incident.title == "High CPU usage on cpu-node-1:9100"
    assert incident.description == "CPU usage on cpu-node-1:9100 has been above 90% for 5 minutes."
    assert "Grafana alert" in incident.impact
    assert incident.severity == Incident.Severity.CRITICAL
    assert incident.service.name == "checkout"
    # startsAt came in the Grafana server's zone (+01:00).
    assert incident.occurred_at == datetime(2026, 11, 27, 9, 41, 42, 512783, tzinfo=UTC)
    alert = Alert.objects.get()
    assert alert.fingerprint == "3f5c9e02d1a7b684" and alert.status == Alert.Status.FIRING
    assert alert.labels["grafana_folder"] == "Backend"
    assert alert.source_url.startswith("https://grafana.example.com/alerting/grafana/")
    group = AlertGroup.objects.get()
    # The group key is the organisation's own; the payload as received is kept, Grafana's fields included.
    assert group.group_key == "org 1/" + load("firing")["groupKey"]
    assert group.last_payload["state"] == "alerting" and group.last_payload["alerts"][0]["values"]["A"] == 97.25
    assert group.receiver == "Beacon" and group.external_url == "https://grafana.example.com/"


def test_the_resolved_notification_mitigates_the_incident_and_says_grafana_reported_it(grafana):
    grafana.post(load("firing"))

    body = grafana.post(load("resolved")).json()

    incident = only_incident()
    assert body["changed"] is True and body["created"] is False and "1 resolved" in body["message"]
    assert incident.status == "mitigated"
    assert incident.source_resolved_at == datetime(2026, 11, 27, 9, 49, 42, 512783, tzinfo=UTC)
    mitigated = incident.timeline.get(kind=Kind.STATUS_CHANGE)
    assert (mitigated.author, mitigated.data["old"], mitigated.data["new"]) == (None, "reported", "mitigated")
    assert mitigated.text.startswith("Grafana reports every alert of this group resolved")
    assert Alert.objects.get().status == Alert.Status.RESOLVED


def test_a_grouped_notification_opens_one_incident_with_every_alert(grafana):
    body = grafana.post(load("firing-grouped-3")).json()

    incident = only_incident()
    assert body["created"] is True and "3 alert(s)" in body["message"]
    assert incident.alert_group.alerts.count() == 3
    assert incident.severity == Incident.Severity.HIGH and incident.service.name == "database"
    # No common summary: the first alert's, and how many more there are.
    assert incident.title == "Disk of db-1 is 92% full (+2 more)"
    fired = incident.timeline.get(kind=Kind.ALERT_FIRED)
    assert fired.data["count"] == 3 and "3 alert(s) fired" in fired.text


def test_a_group_resolving_one_alert_at_a_time_is_mitigated_only_when_the_last_resolves(grafana):
    grafana.post(load("firing-grouped-3"))

    partly = grafana.post(load("partly-resolved-grouped-3")).json()
    incident = only_incident()
    assert partly["changed"] is True and "1 resolved" in partly["message"]
    assert incident.status == "reported"
    assert incident.alert_group.alerts.filter(status=Alert.Status.FIRING).count() == 2

    grafana.post(load("resolved-grouped-3"))
    incident.refresh_from_db()
    assert incident.status == "mitigated"
    assert incident.timeline.filter(kind=Kind.ALERT_RESOLVED).count() == 3


def test_a_group_firing_again_after_its_mitigation_reactivates_the_incident(grafana):
    grafana.post(load("firing-grouped-3"))
    grafana.post(load("resolved-grouped-3"))
    again = load("firing-grouped-3")
    again["alerts"][0]["startsAt"] = "2026-11-27T11:00:00Z"  # db-1 fires anew

    body = grafana.post(again).json()

    incident = only_incident()
    # Active again, as it was before the mitigation (the lead hears of it).
    assert body["changed"] is True and incident.status == "reported"
    change = incident.timeline.filter(kind=Kind.STATUS_CHANGE).last()
    assert (change.data["old"], change.data["new"], change.data["reactivated"]) == ("mitigated", "reported", True)
    assert incident.alert_group.alerts.count() == 4


def test_a_no_data_alert_opens_an_incident_named_after_grafanas_alert(grafana):
    body = grafana.post(load("no-data")).json()

    incident = only_incident()
    assert body["created"] is True
    assert incident.title == "Request rate of checkout"
    assert Alert.objects.get().labels["alertname"] == "DatasourceNoData"


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_replaying_a_fixture_changes_nothing(grafana, name):
    """Grafana re-sends the group every repeat interval and after a failure; an HA pair sends twice."""
    first = grafana.post(load(name))
    assert first.status_code == 200, first.content
    counts = (Incident.objects.count(), Alert.objects.count(), TimelineEntry.objects.count())

    again = grafana.post(load(name)).json()

    assert again["changed"] is False and again["created"] is False
    assert (Incident.objects.count(), Alert.objects.count(), TimelineEntry.objects.count()) == counts


def test_replaying_the_whole_sequence_opens_nothing_more(grafana):
    for name in FIXTURE_NAMES:
        grafana.post(load(name))
    counts = (Incident.objects.count(), Alert.objects.count(), TimelineEntry.objects.count())

    for name in FIXTURE_NAMES:
        assert grafana.post(load(name)).json()["changed"] is False

    assert (Incident.objects.count(), Alert.objects.count(), TimelineEntry.objects.count()) == counts
    assert counts[0] == 3  # CPU, disk and no-data groups


def test_the_same_group_from_two_organisations_opens_two_incidents(grafana):
    other = load("firing")
    other["orgId"] = 2
    other["alerts"][0]["fingerprint"] = "77aa00bb11cc22dd"

    grafana.post(load("firing"))
    body = grafana.post(other).json()

    assert body["created"] is True and Incident.objects.count() == 2


# --- what the top-level state and the alerts' statuses decide ------------------------------------


@pytest.mark.parametrize("state", ["ok", "no_data", "paused", "pending", "error", "something_new", ""])
def test_the_top_level_state_decides_nothing_the_alerts_statuses_do(grafana, state):
    payload = load("firing")
    payload["state"] = state

    body = grafana.post(payload).json()

    assert body["created"] is True and Alert.objects.get().status == Alert.Status.FIRING


def test_an_alert_arriving_resolved_opens_an_incident_that_is_at_once_mitigated(grafana):
    body = grafana.post(load("resolved")).json()
    incident = only_incident()
    assert body["created"] is True and incident.status == "mitigated"


# --- tokens and kinds --------------------------------------------------------------------------


def test_the_create_integration_command_makes_a_token_the_grafana_url_takes(db, capsys):
    call_command("create_integration", "grafana", "grafana-eu")
    token = capsys.readouterr().out.strip().splitlines()[-1]

    response = Poster(token, url=URL).post(load("firing"))

    assert response.status_code == 200, response.content
    assert Integration.objects.get(name="grafana-eu").kind == Integration.Kind.GRAFANA


def test_a_wrong_token_is_refused_with_401(grafana):
    response = grafana.post(load("firing"), token="bcn_wrong")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert "wrong" in response.json()["message"] and nothing_stored()


def test_no_token_is_refused_with_401(client, db):
    response = client.post(URL, json.dumps(load("firing")), content_type="application/json")
    assert response.status_code == 401 and "Authorization: Bearer" in response.json()["message"]


def test_an_alertmanager_token_does_not_work_on_the_grafana_url(db):
    _, token = make_integration(name="prometheus", kind=Integration.Kind.ALERTMANAGER)
    response = Poster(token, url=URL).post(load("firing"))
    assert response.status_code == 403 and "not a Grafana integration" in response.json()["message"]
    assert nothing_stored()


def test_a_grafana_token_does_not_work_on_the_alertmanager_url(grafana):
    response = Poster(grafana.token).post(load_alertmanager("firing"))
    assert response.status_code == 403 and "not an Alertmanager integration" in response.json()["message"]
    assert nothing_stored()


def test_a_get_is_answered_405(grafana):
    response = grafana.client.get(URL, HTTP_AUTHORIZATION=f"Bearer {grafana.token}")
    assert response.status_code == 405 and response["Allow"] == "POST"


# --- bad bodies: a clear JSON answer, nothing stored ---------------------------------------------


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b"\xff\xfe\xfa"])
def test_a_body_that_is_not_json_is_refused_with_400(grafana, body):
    response = grafana.post(body)
    assert response.status_code == 400 and "not JSON" in response.json()["message"]
    assert nothing_stored()


def _with(path: str, value) -> dict:
    payload = load("firing")
    *parents, last = path.split(".")
    target = payload
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return payload


_DELETE = object()


@pytest.mark.parametrize(
    "path, value, field",
    [
        ("version", "4", "version"),
        ("version", _DELETE, "version"),
        ("orgId", "main", "orgId"),
        ("orgId", _DELETE, "orgId"),
        ("orgId", -1, "orgId"),
        ("state", 5, "state"),
        ("groupKey", _DELETE, "groupKey"),
        ("alerts", [], "alerts"),
        ("alerts.0.status", "alerting", "alerts.0.status"),
        ("alerts.0.fingerprint", _DELETE, "alerts.0.fingerprint"),
        ("alerts.0.startsAt", "yesterday", "alerts.0.startsAt"),
        ("alerts.0.values", {"A": "high"}, "alerts.0.values.A"),
        ("alerts.0.silenceURL", 7, "alerts.0.silenceURL"),
        ("alerts.0.orgId", "one", "alerts.0.orgId"),
    ],
)
def test_a_payload_of_the_wrong_shape_is_refused_with_422_naming_the_field(grafana, path, value, field):
    response = grafana.post(_with(path, value))

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["message"].startswith(f"{field}:"), body["message"]
    assert body["errors"][0]["field"] == field
    assert nothing_stored()


def test_an_alertmanager_payload_on_the_grafana_url_is_refused_naming_the_version(grafana):
    response = grafana.post(load_alertmanager("firing"))
    assert response.status_code == 422 and response.json()["message"].startswith("version:")


def test_a_json_array_is_refused_with_422_naming_grafanas_payload(grafana):
    response = grafana.post(b"[]")
    assert response.status_code == 422 and "Grafana Alerting webhook" in response.json()["message"]


def test_a_legacy_grafana_alerting_notification_is_refused_saying_what_to_use(grafana):
    legacy = {
        "dashboardId": 1,
        "evalMatches": [{"value": 100, "metric": "High value", "tags": None}],
        "orgId": 1,
        "panelId": 2,
        "ruleId": 1,
        "ruleName": "Panel Title alert",
        "ruleUrl": "http://localhost:3000/d/hZ7BuVbWz/test-dashboard?fullscreen&edit&tab=alert&panelId=2&orgId=1",
        "state": "alerting",
        "title": "[Alerting] Panel Title alert",
    }
    response = grafana.post(legacy)
    assert response.status_code == 422
    assert response.json()["message"].startswith("alerts: this is a legacy Grafana alerting notification")
    assert nothing_stored()


def test_values_may_be_null_and_grafanas_optional_fields_absent(grafana):
    payload = load("firing")
    alert = payload["alerts"][0]
    alert["values"] = None
    for name in ("silenceURL", "dashboardURL", "panelURL", "valueString", "orgId"):
        del alert[name]
    for name in ("title", "message", "state"):
        del payload[name]
    assert grafana.post(payload).status_code == 200


def test_a_body_over_one_mebibyte_is_refused_with_413(grafana):
    payload = load("firing")
    payload["message"] = "x" * (1024 * 1024)
    response = grafana.post(payload)
    assert response.status_code == 413 and "1 MiB" in response.json()["message"]
    assert nothing_stored()


def test_the_size_is_refused_from_content_length_before_the_token_is_read(grafana):
    response = grafana.client.post(
        URL, b"{}", content_type="application/json", CONTENT_LENGTH=str(2 * 1024 * 1024), HTTP_AUTHORIZATION="x"
    )
    assert response.status_code == 413 and nothing_stored()


def test_a_database_outage_is_answered_503_so_grafana_retries(grafana, monkeypatch):
    from django.db import OperationalError

    from incidents.alerts import intake

    def down(*args, **kwargs):
        raise OperationalError("the database is away")

    monkeypatch.setattr(intake, "_apply", down)
    response = grafana.post(load("firing"))
    assert response.status_code == 503 and response["Retry-After"]
    assert "retry" in response.json()["message"] and nothing_stored()
