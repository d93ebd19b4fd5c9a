"""Maintenance windows and silences in the API: real tokens, the permissions of the pages, JSON
errors naming the field, nothing half-written, and the schema listing the operations."""

import datetime as dt

import pytest
import time_machine

from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import MaintenanceWindow, Notification, Silence, Subscription
from incidents.tests.factories import ServiceFactory

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def checkout(db):
    service = ServiceFactory(name="Checkout")
    Subscription.objects.create(email="partner@outside.example", service=service)
    return service


def window_body(**changes) -> dict:
    body = {
        "services": ["checkout"],
        "start": "2026-01-14T13:00:00Z",
        "end": "2026-01-14T14:00:00+00:00",
        "description": "Card payments pause for up to 10 minutes.",
    }
    return {**body, **changes}


def test_a_manager_schedules_lists_and_cancels_a_window(manager, viewer, checkout):
    token = personal_token(manager)
    with time_machine.travel(NOON, tick=False):
        made = call("post", "/api/maintenance-windows", token, window_body())
        assert made.status_code == 201, made.content
        body = made.json()
        assert body["services"] == ["checkout"] and body["state"] == "scheduled" and body["created_by"] == "maya"
        assert Notification.objects.filter(recipient="partner@outside.example").count() == 1
        listed = call("get", "/api/maintenance-windows", personal_token(viewer))
        assert [w["id"] for w in listed.json()] == [body["id"]]
        cancelled = call("post", f"/api/maintenance-windows/{body['id']}/cancel", token)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        again = call("post", f"/api/maintenance-windows/{body['id']}/cancel", token)
        assert again.status_code == 409
        assert again.json()["detail"] == f"Maintenance #{body['id']} was already cancelled."
        assert call("get", "/api/maintenance-windows", token).json() == []
        assert [w["state"] for w in call("get", "/api/maintenance-windows?current=false", token).json()] == [
            "cancelled"
        ]
        assert call("post", "/api/maintenance-windows/999999/cancel", token).status_code == 404


def test_an_integration_token_schedules_maintenance_before_a_deploy(checkout):
    with time_machine.travel(NOON, tick=False):
        made = call("post", "/api/maintenance-windows", integration_token(), window_body())
    assert made.status_code == 201, made.content
    assert made.json()["created_by"] is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"services": ["checkout", "nope"]}, "services.1", "There is no service “nope”."),
        ({"services": []}, "services", "at least 1 item"),
        ({"end": "2026-01-14T12:30:00Z"}, "end", "The end must be after the start."),
        ({"start": "2026-01-14T13:00:00"}, "start", "timezone"),
        ({"description": "   "}, "description", "Say what users will notice."),
        ({"description": "a\x00b"}, "description", "Null characters are not allowed."),
        ({"end": "2026-03-14T14:00:00Z"}, "end", "A window lasts at most 31 days."),
    ],
)
def test_bad_windows_answer_422_naming_the_field_and_write_nothing(manager, checkout, changes, field, message):
    with time_machine.travel(NOON, tick=False):
        response = call("post", "/api/maintenance-windows", personal_token(manager), window_body(**changes))
    assert response.status_code == 422, response.content
    errors = response.json()["detail"]
    assert any(e["field"].endswith(field) and message in e["message"] for e in errors), errors
    assert not MaintenanceWindow.objects.exists()
    assert not Notification.objects.exists()


def test_only_managers_schedule_windows_and_responders_silence(responder, viewer, checkout):
    assert call("post", "/api/maintenance-windows", personal_token(responder), window_body()).status_code == 403
    silence = {"matchers": [{"name": "alertname", "op": "=", "value": "Down"}]}
    assert call("post", "/api/silences", personal_token(viewer), silence).status_code == 403
    assert call("post", "/api/silences", personal_token(responder), silence).status_code == 201
    assert call("get", "/api/silences").status_code == 401


def test_a_responder_silences_and_lifts(responder):
    token = personal_token(responder)
    with time_machine.travel(NOON, tick=False):
        made = call(
            "post",
            "/api/silences",
            token,
            {"matchers": [{"name": "instance", "op": "=~", "value": "web-.*"}], "hours": 1.5, "comment": "deploy"},
        )
        assert made.status_code == 201, made.content
        body = made.json()
        assert body["expires_at"].startswith("2026-01-14T13:30") and body["active"] is True
        assert body["silenced_alerts"] == 0 and body["incident"] is None
        assert [s["id"] for s in call("get", "/api/silences", token).json()] == [body["id"]]
        lifted = call("post", f"/api/silences/{body['id']}/cancel", token)
        assert lifted.status_code == 200 and lifted.json()["active"] is False
        assert call("post", f"/api/silences/{body['id']}/cancel", token).status_code == 409


@pytest.mark.parametrize(
    ("matchers", "message"),
    [
        ([{"name": "instance", "op": "=~", "value": "web-("}], "is not a valid regular expression"),
        ([{"name": "env", "op": "!=", "value": "prod"}], "would silence every alert"),
        ([{"name": "bad-name", "op": "=", "value": "x"}], "is not a label name"),
        ([{"name": "a", "op": "==", "value": "x"}], "Input should be"),
        ([{"name": "a", "op": "=", "value": "x\x00"}], "Null characters are not allowed."),
        ([], "at least 1 item"),
    ],
)
def test_bad_silences_answer_422_and_write_nothing(responder, matchers, message):
    response = call("post", "/api/silences", personal_token(responder), {"matchers": matchers})
    assert response.status_code == 422, response.content
    assert any(message in e["message"] for e in response.json()["detail"]), response.json()
    assert not Silence.objects.exists()


def test_the_schema_lists_the_operations(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/maintenance-windows", "/api/maintenance-windows/{window_id}/cancel"} <= set(paths)
    assert {"/api/silences", "/api/silences/{silence_id}/cancel"} <= set(paths)
