"""The lead hears about an Alertmanager incident once per piece of news, not once per alert entry."""

import json
from pathlib import Path

import pytest

from incidents.models import Incident, Integration, Notification, TimelineEntry

FIXTURES = Path(__file__).parents[2] / "alerts" / "tests" / "fixtures" / "alertmanager"


@pytest.fixture
def token(db):
    integration = Integration(name="am", kind=Integration.Kind.ALERTMANAGER)
    secret = integration.set_new_token()
    integration.save()
    return secret


def post(client, token, payload):
    return client.post(
        "/integrations/alertmanager/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_opening_and_resolving_tell_the_lead_once_each(client, token, responder):
    from incidents import workflow

    firing = json.loads((FIXTURES / "firing.json").read_text())
    assert post(client, token, firing).status_code == 200
    incident = Incident.objects.get()
    workflow.take(incident, by=responder)
    lead_rows_before = Notification.objects.filter(recipient=responder.email).count()
    resolved = json.loads((FIXTURES / "resolved.json").read_text())
    assert post(client, token, resolved).status_code == 200
    incident.refresh_from_db()
    assert incident.status == Incident.Status.MITIGATED
    assert incident.timeline.filter(kind=TimelineEntry.Kind.ALERT_RESOLVED).exists()
    new_rows = Notification.objects.filter(recipient=responder.email).count() - lead_rows_before
    assert new_rows == 1  # "Mitigated", not one more per resolved alert
