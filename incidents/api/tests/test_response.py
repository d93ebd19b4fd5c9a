"""The API of response roles and tasks (docs/api.md): read them, give a role, tick a task; bad input
names the field; the permission per token; resolve refused while required tasks are open."""

import pytest

from incidents import workflow
from incidents.api.tests.support import call, integration_token, personal_token, report_body
from incidents.models import IncidentType, Notification, ResponseRole, RoleAssignment, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident


@pytest.fixture
def incident(reporter, manager):
    """A security incident (its checklist has required tasks) that everyone with a role may see."""
    made = make_incident(by=reporter, type=IncidentType.objects.get(slug="security"))
    return workflow.lift_restriction(made, by=manager, reason="A false alarm about a test key.")


def test_reading_roles_and_tasks(incident, responder, viewer):
    workflow.assign_role(incident, by=responder, role=ResponseRole.objects.get(slug="scribe"), user=viewer)
    token = personal_token(viewer)
    roles = call("get", f"/api/incidents/{incident.ref}/roles", token)
    assert roles.status_code == 200
    assert [(r["role"], r["name"], r["holder"]) for r in roles.json()] == [
        ("commander", "Incident commander", None),
        ("communications", "Communications lead", None),
        ("scribe", "Scribe", "vic"),
    ]
    tasks = call("get", f"/api/incidents/{incident.ref}/tasks", token).json()
    assert [t["title"] for t in tasks][:2] == [
        "Preserve evidence (logs, disk images) before changing systems",
        "Rotate credentials",
    ]
    assert tasks[0] == {
        "id": tasks[0]["id"],
        "title": tasks[0]["title"],
        "required": True,
        "done": False,
        "done_at": None,
        "done_by": None,
        "assignee": None,
    }
    assert call("get", "/api/incidents/INC-999999/tasks", token).status_code == 404


def test_an_api_report_gets_its_types_checklist(responder):
    ServiceFactory(name="Checkout", slug="checkout")
    token = personal_token(responder)
    created = call("post", "/api/incidents", token, report_body(type="security"))
    assert created.status_code == 201, created.json()
    tasks = call("get", f"/api/incidents/{created.json()['ref']}/tasks", token).json()
    assert sum(t["required"] for t in tasks) == 4


def test_ticking_a_task_and_the_second_tick_is_a_conflict(incident, responder, other_responder):
    task = incident.tasks.first()
    url = f"/api/incidents/{incident.ref}/tasks/{task.pk}"
    ticked = call("post", url, personal_token(responder), {"done": True})
    assert ticked.status_code == 200
    assert ticked.json()["done"] is True and ticked.json()["done_by"] == "rob"
    again = call("post", url, personal_token(other_responder), {"done": True})
    assert again.status_code == 409
    assert "was already ticked by Rob Responder" in again.json()["detail"]
    entry = incident.timeline.filter(kind=TimelineEntry.Kind.TASK).get()
    assert entry.data["via"] == "api" and entry.data["action"] == "ticked"
    opened = call("post", url, personal_token(other_responder), {"done": False})
    assert opened.json()["done"] is False


def test_resolving_through_the_api_names_the_open_required_tasks(incident, responder):
    response = call(
        "post",
        f"/api/incidents/{incident.ref}/resolve",
        personal_token(responder),
        {"summary": "Done.", "confirmed": True},
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith("Resolve blocked: 4 required tasks open: Preserve evidence")


def test_assigning_a_role(incident, responder, other_responder):
    token = personal_token(responder)
    url = f"/api/incidents/{incident.ref}/roles"
    answer = call("post", url, token, {"role": "commander", "person": "ola"})
    assert answer.status_code == 200
    assert answer.json()[0]["holder"] == "ola"
    assert Notification.objects.filter(user=other_responder, entry__kind="role", channel="email").exists()
    # A stale `expected` is a 409 and changes nothing.
    stale = call("post", url, token, {"role": "commander", "person": "rob", "expected": ""})
    assert stale.status_code == 409 and "Oncall holds it now" in stale.json()["detail"]
    assert RoleAssignment.objects.get(incident=incident).user == other_responder
    fresh = call("post", url, token, {"role": "commander", "person": None, "expected": "ola"})
    assert fresh.status_code == 200 and fresh.json()[0]["holder"] is None


@pytest.mark.parametrize(
    "body, field, message",
    [
        (
            {"role": "pope", "person": "rob"},
            "role",
            "There is no role “pope”; the roles are: commander, communications, scribe.",
        ),
        ({"role": "scribe", "person": "ghost"}, "person", "There is nobody with the username “ghost”."),
        (
            {"role": "scribe", "person": "rob", "expected": "ghost"},
            "expected",
            "There is nobody with the username “ghost”.",
        ),
        ({"person": "rob"}, "role", "This field is required."),
        ({"role": "scribe"}, "person", "This field is required."),
        ({"role": "scribe", "person": "rob", "colour": "red"}, "colour", "Unknown field."),
        ({"role": "scri\x00be", "person": "rob"}, "role", "Null characters are not allowed."),
    ],
)
def test_bad_role_input_names_the_field(incident, responder, body, field, message):
    answer = call("post", f"/api/incidents/{incident.ref}/roles", personal_token(responder), body)
    assert answer.status_code == 422
    assert {"field": field, "message": message} in answer.json()["detail"]
    assert not RoleAssignment.objects.exists()


@pytest.mark.parametrize(
    "body, path, field",
    [
        ({}, None, "done"),
        ({"done": "perhaps"}, None, "done"),
        ({"done": True, "extra": 1}, None, "extra"),
        ({"done": True}, "0", "task_id"),
        ({"done": True}, "99999999999999999999999", "task_id"),
        ({"done": True}, "abc", "task_id"),
    ],
)
def test_bad_tick_input_names_the_field(incident, responder, body, path, field):
    task = incident.tasks.first()
    answer = call("post", f"/api/incidents/{incident.ref}/tasks/{path or task.pk}", personal_token(responder), body)
    assert answer.status_code == 422, answer.content
    assert field in [e["field"] for e in answer.json()["detail"]]
    task.refresh_from_db()
    assert not task.done


def test_a_task_of_another_incident_is_not_found(incident, reporter, responder):
    other = make_incident(by=reporter).tasks.first()
    answer = call("post", f"/api/incidents/{incident.ref}/tasks/{other.pk}", personal_token(responder), {"done": True})
    assert answer.status_code == 404
    other.refresh_from_db()
    assert not other.done


@pytest.mark.parametrize("who", ["viewer", "reporter", "integration"])
def test_only_people_who_respond_may_change_them(incident, users, who):
    token = integration_token() if who == "integration" else personal_token(users[who])
    task = incident.tasks.first()
    assert call("get", f"/api/incidents/{incident.ref}/tasks", token).status_code == 200
    assert call("post", f"/api/incidents/{incident.ref}/tasks/{task.pk}", token, {"done": True}).status_code == 403
    assert (
        call("post", f"/api/incidents/{incident.ref}/roles", token, {"role": "scribe", "person": "rob"}).status_code
        == 403
    )
    task.refresh_from_db()
    assert not task.done and not RoleAssignment.objects.exists()


def test_the_openapi_schema_lists_them(responder):
    schema = call("get", "/api/openapi.json", personal_token(responder)).json()
    for path in ["/api/incidents/{ref}/roles", "/api/incidents/{ref}/tasks", "/api/incidents/{ref}/tasks/{task_id}"]:
        assert path in schema["paths"]
