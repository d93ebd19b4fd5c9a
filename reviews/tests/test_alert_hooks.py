"""Alertmanager incidents: similar past incidents by alert name, and the runbook_url annotation."""

import copy
import json
from pathlib import Path

import pytest

from incidents import workflow
from incidents.models import Incident, Integration

FIXTURE = Path(__file__).parents[2] / "incidents/alerts/tests/fixtures/alertmanager/firing.json"
FIRING = json.loads(FIXTURE.read_text())


@pytest.fixture
def token(db):
    integration = Integration(name="am", kind=Integration.Kind.ALERTMANAGER)
    secret = integration.set_new_token()
    integration.save()
    return secret


def fire(client, token, *, service: str, fingerprint: str, runbook: str = "") -> Incident:
    payload = copy.deepcopy(FIRING)
    payload["groupKey"] = f'{{}}:{{alertname="TargetDown", service="{service}"}}'
    alert = payload["alerts"][0]
    for labels in (alert["labels"], payload["groupLabels"], payload["commonLabels"]):
        labels["service"] = service
    alert["fingerprint"] = fingerprint
    if runbook:
        alert["annotations"]["runbook_url"] = runbook
    response = client.post(
        "/integrations/alertmanager/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    return Incident.objects.order_by("-pk").first()


def test_same_alert_name_on_another_service_is_similar(client, clients, token, responder):
    old = fire(client, token, service="payments", fingerprint="aaaa")
    workflow.resolve(old, by=responder, summary="Restarted the payments pod", confirmed=True)
    new = fire(client, token, service="search", fingerprint="bbbb", runbook="https://wiki.example/runbooks/target-down")
    assert new.service != old.service
    html = clients["responder"].get(f"/incidents/{new.ref}/").content.decode()
    similar = clients["responder"].get(f"/reviews/{new.ref}/similar/").content.decode()
    assert f">{old.ref}<" in similar.split("Similar past incidents", 1)[1]
    assert "https://wiki.example/runbooks/target-down" in html


def test_a_javascript_runbook_link_is_not_shown(client, clients, token):
    incident = fire(client, token, service="search", fingerprint="cccc", runbook="javascript:alert(1)")
    html = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "javascript:alert(1)" not in html.split("Runbook", 1)[1].split("</section>", 1)[0]
