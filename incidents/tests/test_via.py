"""Every timeline entry records where its action came from (`data["via"]`, incidents/workflow.py),
from each entry point, and the incident page shows it in small text. Slack and email links have
their own tests (incidents/slack/tests/, incidents/notifications/tests/test_email_actions.py)."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import pytest

from incidents import workflow
from incidents.alerts.tests.support import am, integration, load  # noqa: F401
from incidents.api.tests.support import call, personal_token
from incidents.models import Incident, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident

Kind = TimelineEntry.Kind


def vias(incident) -> list[tuple[str, str | None]]:
    return [(kind, data.get("via")) for kind, data in incident.timeline.order_by("pk").values_list("kind", "data")]


def test_web_actions_come_from_the_web(clients, reporter):
    ServiceFactory(name="Checkout")
    response = clients["reporter"].post(
        "/incidents/new/",
        {
            "type": "downtime",
            "title": "Checkout is down",
            "service": ServiceFactory(name="Checkout").pk,
            "severity": "high",
            "occurred_at": "2026-01-01 10:00",
            "description": "500s",
            "impact": "Nobody can pay",
        },
    )
    assert response.status_code == 302
    incident = Incident.objects.get()
    clients["responder"].post(f"/incidents/{incident.ref}/acknowledge/")
    clients["responder"].post(f"/incidents/{incident.ref}/note/", {"text": "Looking."})
    assert vias(incident) == [(Kind.REPORTED, "web"), (Kind.STATUS_CHANGE, "web"), (Kind.NOTE, "web")]
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert page.count('class="entry-via" data-via="web">on the web<') == 3


def test_api_actions_come_from_the_api(clients, reporter, responder):
    incident = make_incident(by=reporter)
    token = personal_token(responder)
    assert call("post", f"/api/incidents/{incident.ref}/acknowledge", token).status_code == 200
    assert call("post", f"/api/incidents/{incident.ref}/updates", token, {"message": "On it."}).status_code == 201
    assert vias(incident)[1:] == [(Kind.STATUS_CHANGE, "api"), (Kind.STATUS_UPDATE, "api")]
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert 'data-via="api">through the API<' in page


def test_alerts_come_from_an_alert(clients, am):
    assert am.post(load("firing")).status_code == 200
    assert am.post(load("resolved")).status_code == 200
    incident = Incident.objects.get()
    recorded = vias(incident)
    assert (Kind.REPORTED, "alert") in recorded and (Kind.STATUS_CHANGE, "alert") in recorded
    assert {via for _, via in recorded} == {"alert"}
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert 'data-via="alert">from an alert<' in page


def test_code_outside_any_entry_point_records_no_source(reporter, responder):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    assert vias(incident) == [(Kind.REPORTED, None), (Kind.STATUS_CHANGE, None)]


def test_an_entry_point_names_a_known_source_only():
    with pytest.raises(ValueError):
        with workflow.via("carrier pigeon"):
            pass
    assert workflow.current_via() is None


def test_the_source_is_reset_after_the_block(reporter):
    with workflow.via(workflow.VIA_SLACK):
        assert workflow.current_via() == "slack"
    assert workflow.current_via() is None
