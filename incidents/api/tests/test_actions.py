"""The workflow verbs of the API (incidents/api/actions.py, docs/api.md): each role may do what the
incident page lets it, restricted incidents are 404 to those who may not see them, a stale
`version` is a 409 with the incident as it is now, and bad input is a 422 that writes nothing."""

import pytest
from django.contrib.auth.models import Permission

from conftest import make_user
from incidents import roles, workflow
from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import Incident, Severity, Status, TimelineEntry
from incidents.tests.factories import make_incident

TOO_LONG = "Ensure this value has at most 2000 characters (it has 2001)."


def _states(reporter, responder) -> dict[str, tuple[Incident, dict]]:
    """Per verb, an incident in a state that allows it and a body that does it."""

    def at(status: str) -> Incident:
        incident = make_incident(by=reporter, severity=Severity.LOW)
        if status in ("acknowledged", "mitigated", "resolved"):
            workflow.acknowledge(incident, by=responder)
        if status == "mitigated":
            workflow.mitigate(incident, by=responder)
        if status == "resolved":
            workflow.resolve(incident, by=responder, summary="Rolled back.", confirmed=True)
        return Incident.objects.get(pk=incident.pk)

    return {
        "acknowledge": (at("reported"), {}),
        "take": (at("reported"), {}),
        "lead": (at("acknowledged"), {"lead": "maya"}),
        "severity": (at("reported"), {"severity": "critical", "reason": "Every region."}),
        "mitigate": (at("acknowledged"), {"text": "Traffic moved."}),
        "resolve": (at("mitigated"), {"summary": "Rolled back.", "confirmed": True}),
        "reopen": (at("resolved"), {"reason": "It fails again."}),
        "reactivate": (at("mitigated"), {"reason": "The alert fires again."}),
        "close": (at("resolved"), {}),
    }


# What each verb leaves behind, for the one allowed to do it.
AFTER = {
    "acknowledge": lambda i: i.status == Status.ACKNOWLEDGED,
    "take": lambda i: i.lead.username == "rob" or i.lead.username == "maya",
    "lead": lambda i: i.lead.username == "maya",
    "severity": lambda i: i.severity == Severity.CRITICAL,
    "mitigate": lambda i: i.status == Status.MITIGATED,
    "resolve": lambda i: i.status == Status.RESOLVED and i.resolution_summary == "Rolled back.",
    "reopen": lambda i: i.status == Status.ACKNOWLEDGED and i.resolved_at is None,
    "reactivate": lambda i: i.status == Status.ACKNOWLEDGED and i.mitigated_at is None,
    "close": lambda i: i.status == Status.CLOSED,
}
# Who may, as on the incident page: responders and managers; closing is for managers.
MAY = {verb: {"responder", "manager"} for verb in AFTER} | {"close": {"manager"}}


def _post(incident: Incident, verb: str, token: str, body: dict, **overrides):
    return call(
        "post", f"/api/incidents/{incident.ref}/{verb}", token, {"version": incident.version, **body, **overrides}
    )


def _entries(incident: Incident) -> int:
    return TimelineEntry.objects.filter(incident=incident).count()


@pytest.mark.parametrize("verb", list(AFTER))
@pytest.mark.parametrize("role", ["reporter", "viewer", "responder", "manager", "integration"])
def test_each_role_may_do_what_the_page_lets_it(verb, role, users, reporter, responder):
    incident, body = _states(reporter, responder)[verb]
    token = integration_token() if role == "integration" else personal_token(users[role])
    before = (_entries(incident), Incident.objects.get(pk=incident.pk).status)
    response = _post(incident, verb, token, body)
    incident.refresh_from_db()
    if role in MAY[verb]:
        assert response.status_code == 200, response.json()
        assert response.json()["ref"] == incident.ref
        assert response.json()["version"] == incident.version
        assert AFTER[verb](incident)
        newest = incident.timeline.order_by("-created_at", "-pk").first()
        assert newest.data["via"] == "api" and newest.author == users[role]
    else:
        assert response.status_code == 403
        assert response.json()["detail"] in {
            "Your role does not allow this.",
            "Only a person can do this; use a personal API token.",
        }
        assert (_entries(incident), incident.status) == before


@pytest.mark.parametrize("verb", list(AFTER))
def test_a_restricted_incident_is_not_found_by_those_who_may_not_see_it(verb, reporter, responder, manager):
    incident, body = _states(reporter, responder)[verb]
    workflow.restrict(incident, by=manager, reason="Customer data.")
    incident.refresh_from_db()
    outsider = make_user("olga", roles.RESPONDER)
    if verb == "close":
        # Managers see every restricted incident: a responder allowed to close is the outsider here.
        outsider.user_permissions.add(Permission.objects.get(codename=roles.codename(roles.CLOSE_INCIDENT)))
        outsider = type(outsider).objects.get(pk=outsider.pk)
    count = _entries(incident)
    response = _post(incident, verb, personal_token(outsider), body)
    assert response.status_code == 404
    assert response.json() == {"detail": f"There is no incident {incident.ref}."}
    assert _entries(incident) == count
    # A participant may.
    workflow.add_participant(incident, by=manager, user=outsider)
    incident.refresh_from_db()
    assert _post(incident, verb, personal_token(outsider), body).status_code == 200


@pytest.mark.parametrize("verb", list(AFTER))
def test_a_stale_version_is_a_conflict_with_the_current_incident_and_changes_nothing(
    verb, reporter, responder, manager
):
    incident, body = _states(reporter, responder)[verb]
    stale = incident.version
    # Someone edits the report meanwhile.
    workflow.edit(incident, by=manager, version=stale, changes={"title": "Checkout is down in the EU"})
    count = _entries(incident)
    response = _post(incident, verb, personal_token(manager), body, version=stale)
    assert response.status_code == 409
    answer = response.json()
    assert answer["detail"].startswith(f"{incident.ref} was changed since you read it (you sent version {stale};")
    assert answer["current"]["title"] == "Checkout is down in the EU"
    assert answer["current"]["version"] == stale + 1
    assert _entries(incident) == count
    # With the current version it goes through.
    assert _post(incident, verb, personal_token(manager), body, version=stale + 1).status_code == 200


def test_a_move_the_status_does_not_allow_is_a_conflict_naming_it(reporter, manager):
    incident = make_incident(by=reporter, severity=Severity.LOW)
    response = _post(incident, "close", personal_token(manager), {})
    assert response.status_code == 409
    assert response.json() == {"detail": f"{incident.ref} is reported, so it cannot be closed."}
    response = _post(incident, "reopen", personal_token(manager), {"reason": "Again."})
    assert response.json() == {"detail": f"{incident.ref} is reported; only a resolved incident can be reopened."}


@pytest.mark.parametrize(
    "verb, body, field, message",
    [
        ("take", {"version": ...}, "version", "This field is required."),
        ("take", {"version": 0}, "version", "Input should be greater than or equal to 1."),
        (
            "take",
            {"version": "one"},
            "version",
            "Input should be a valid integer.",
        ),
        ("take", {"verison": 1}, "verison", "Unknown field."),
        # What the schema says, exactly: an integer is not a string of digits; a size counts every character sent.
        ("take", {"version": "1"}, "version", "Input should be a valid integer."),
        (
            "reopen",
            {"reason": " " * 1999 + "ab"},
            "reason",
            "Ensure this value has at most 2000 characters (it has 2001).",
        ),
        ("lead", {"lead": "nobody-here"}, "lead", "There is no responder with the username “nobody-here”."),
        ("lead", {"lead": "vic"}, "lead", "There is no responder with the username “vic”."),
        ("severity", {"severity": "urgent"}, "severity", "Input should be 'critical', 'high', 'medium' or 'low'."),
        ("severity", {"severity": "low", "reason": "x" * 2001}, "reason", None),
        ("mitigate", {"text": "a\x00b"}, "text", "Null characters are not allowed."),
        ("reopen", {"reason": "   "}, "reason", "This field is required."),
        ("reactivate", {}, "reason", "This field is required."),
        ("resolve", {"summary": "Fixed.", "confirmed": False}, "confirmed", None),
        ("resolve", {"summary": "", "confirmed": True}, "summary", "This field is required."),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(verb, body, field, message, reporter, responder, viewer):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    incident.refresh_from_db()
    sent = {"version": incident.version, **body}
    sent = {name: value for name, value in sent.items() if value is not ...}
    count = _entries(incident)
    response = call("post", f"/api/incidents/{incident.ref}/{verb}", personal_token(responder), sent)
    assert response.status_code == 422, response.json()
    errors = response.json()["detail"]
    assert field in [error["field"] for error in errors]
    if message:
        assert {"field": field, "message": message} in errors
    assert _entries(incident) == count
    assert Incident.objects.get(pk=incident.pk).version == incident.version


def test_not_json_is_a_400(reporter, responder):
    incident = make_incident(by=reporter)
    response = call("post", f"/api/incidents/{incident.ref}/take", personal_token(responder), "{not json")
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body is not valid JSON."}


def test_acknowledge_and_resolve_still_work_without_a_version(reporter, responder):
    """Scripts written before `version` existed send no body to acknowledge, and no version to resolve."""
    incident = make_incident(by=reporter)
    token = personal_token(responder)
    acknowledged = call("post", f"/api/incidents/{incident.ref}/acknowledge", token)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    resolved = call(
        "post", f"/api/incidents/{incident.ref}/resolve", token, {"summary": "Rolled back.", "confirmed": True}
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"


def test_a_whole_incident_through_the_api(reporter, responder, other_responder, manager):
    incident = make_incident(by=reporter, severity=Severity.LOW)
    rob, maya = personal_token(responder), personal_token(manager)

    def step(token, verb, **body):
        current = Incident.objects.get(pk=incident.pk)
        response = call("post", f"/api/incidents/{incident.ref}/{verb}", token, {"version": current.version, **body})
        assert response.status_code == 200, (verb, response.json())
        return response.json()

    assert step(rob, "acknowledge")["lead"] == "rob"
    assert step(rob, "lead", lead="OLA")["lead"] == "ola"
    assert step(rob, "take")["lead"] == "rob"
    assert step(rob, "lead", lead=None)["lead"] is None
    assert step(rob, "severity", severity="medium", reason="More shops.")["severity"] == "medium"
    assert step(rob, "mitigate", text="Rolled back.")["status"] == "mitigated"
    assert step(rob, "reactivate", reason="Errors again.")["status"] == "acknowledged"
    assert step(rob, "resolve", summary="Fixed the pool.", confirmed=True)["status"] == "resolved"
    assert step(rob, "reopen", reason="Not fixed.")["status"] == "acknowledged"
    assert step(rob, "resolve", summary="Fixed it for real.", confirmed=True)["status"] == "resolved"
    closed = step(maya, "close")
    assert closed["status"] == "closed" and closed["closed_at"]
    kinds = list(incident.timeline.order_by("created_at", "pk").values_list("kind", flat=True))
    assert kinds.count(TimelineEntry.Kind.STATUS_CHANGE) == 7
    assert all(
        e.data.get("via") == "api"
        for e in incident.timeline.exclude(kind=TimelineEntry.Kind.REPORTED)
        if e.kind != TimelineEntry.Kind.NOTIFICATION
    )


def test_a_verb_answers_in_a_bounded_number_of_queries(reporter, responder, django_assert_max_num_queries):
    incident = make_incident(by=reporter)
    token = personal_token(responder)
    with django_assert_max_num_queries(40):
        response = _post(incident, "take", token, {})
    assert response.status_code == 200
