"""Who may call the API: tokens, the roles behind them, integrations, and no cookies."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils.timezone import now

from incidents import workflow
from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import ApiToken, Incident, Integration, StatusUpdate
from incidents.tests.factories import ServiceFactory, make_incident

NEW = {"title": "Search is slow", "description": "p99 at 9 s.", "impact": "Everyone waits.", "severity": "medium"}


@pytest.fixture
def incident(reporter):
    return make_incident(by=reporter)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic cml0YTpwdw==",
        "Bearer bcu_not-a-real-token",
        "Bearer bcn_not-a-real-token",
        "Bearer something-else",
        "Bearer " + "x" * 5000,
    ],
)
def test_it_refuses_missing_and_wrong_tokens_with_401_json(header, incident, responder):
    # Real tokens of both kinds exist, so a check that accepts any token would let these in.
    tokens = [personal_token(responder), integration_token()]
    assert [call("get", "/api/incidents", token).status_code for token in tokens] == [200, 200]
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = Client().get("/api/incidents", **extra)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_revoked_token(responder, incident):
    token = personal_token(responder)
    assert call("get", "/api/incidents", token).status_code == 200
    ApiToken.objects.update(is_active=False)
    assert call("get", "/api/incidents", token).status_code == 401


def test_it_refuses_the_token_of_a_deactivated_user(responder, incident):
    token = personal_token(responder)
    responder.is_active = False
    responder.save()
    assert call("get", "/api/incidents", token).status_code == 401


def test_it_refuses_a_disabled_integration(incident):
    token = integration_token()
    Integration.objects.update(is_active=False)
    assert call("get", "/api/incidents", token).status_code == 401


def test_it_refuses_alertmanager_integration_tokens_with_403(incident):
    token = integration_token(kind=Integration.Kind.ALERTMANAGER)
    response = call("get", "/api/incidents", token)
    assert response.status_code == 403
    assert "/integrations/alertmanager/" in response.json()["detail"]


def test_it_records_when_a_token_was_last_used_at_most_once_a_minute(responder, incident):
    token = personal_token(responder)
    call("get", "/api/incidents", token)
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    call("get", "/api/incidents", token)
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=now() - timedelta(minutes=5))
    call("get", "/api/incidents", token)
    assert ApiToken.objects.get().last_used_at > first


# --- no session authentication, so no CSRF risk -----------------------------------------


def test_a_session_cookie_alone_does_not_authenticate_reads_or_writes(clients, incident):
    ServiceFactory(name="Checkout")
    client = clients["manager"]
    assert client.get("/api/incidents").status_code == 401
    response = call("post", "/api/incidents", body={**NEW, "service": "checkout"}, client=client)
    assert response.status_code == 401
    response = call("post", f"/api/incidents/{incident.ref}/updates", body={"message": "x"}, client=client)
    assert response.status_code == 401
    assert Incident.objects.count() == 1
    assert not StatusUpdate.objects.exists()


def test_token_requests_need_no_csrf_token(responder, incident):
    client = Client(enforce_csrf_checks=True)
    token = personal_token(responder)
    response = call("post", f"/api/incidents/{incident.ref}/updates", token, {"message": "Looking."}, client=client)
    assert response.status_code == 201


# --- the role matrix, with each role's own token ---------------------------------------

ROLES = ["nobody", "reporter", "responder", "manager", "viewer", "integration"]


def expect(nobody, reporter, responder, manager, viewer, integration):
    return dict(zip(ROLES, [nobody, reporter, responder, manager, viewer, integration], strict=True))


MATRIX = [
    ("get", "/api/incidents", None, expect(403, 200, 200, 200, 200, 200)),
    ("get", "/api/incidents/{ref}", None, expect(403, 200, 200, 200, 200, 200)),
    ("get", "/api/incidents/INC-999999", None, expect(403, 404, 404, 404, 404, 404)),
    ("post", "/api/incidents", {**NEW, "service": "checkout"}, expect(403, 201, 201, 201, 403, 201)),
    ("post", "/api/incidents/{ref}/updates", {"message": "On it."}, expect(403, 403, 201, 201, 403, 201)),
    ("post", "/api/incidents/{ref}/acknowledge", None, expect(403, 403, 200, 200, 403, 403)),
    (
        "post",
        "/api/incidents/{ref}/resolve",
        {"summary": "Rolled back.", "confirmed": True},
        expect(403, 403, 200, 200, 403, 403),
    ),
    # The schema is public: it describes the API and holds no data.
    ("get", "/api/openapi.json", None, expect(200, 200, 200, 200, 200, 200)),
    # Response roles and tasks: everyone reads them; people who respond change them (docs/response.md).
    ("get", "/api/incidents/{ref}/roles", None, expect(403, 200, 200, 200, 200, 200)),
    ("get", "/api/incidents/{ref}/tasks", None, expect(403, 200, 200, 200, 200, 200)),
    ("post", "/api/incidents/{ref}/roles", {"role": "scribe", "person": "rob"}, expect(403, 403, 200, 200, 403, 403)),
    ("post", "/api/incidents/{ref}/tasks/{task}", {"done": True}, expect(403, 403, 200, 200, 403, 403)),
    # The workflow verbs (incidents/api/actions.py): a person's acts, as on the incident page. The
    # incident is reported, so reopening, reactivating and closing it is a 409 for those who may.
    # Editing: the reporter reported {ref}, still reported: they may, as on the edit page.
    ("patch", "/api/incidents/{ref}", {"version": 1, "title": "Edited"}, expect(403, 200, 200, 200, 403, 403)),
    ("post", "/api/incidents/{ref}/take", {"version": 1}, expect(403, 403, 200, 200, 403, 403)),
    ("post", "/api/incidents/{ref}/lead", {"version": 1, "lead": "rob"}, expect(403, 403, 200, 200, 403, 403)),
    (
        "post",
        "/api/incidents/{ref}/severity",
        {"version": 1, "severity": "critical"},
        expect(403, 403, 200, 200, 403, 403),
    ),
    ("post", "/api/incidents/{ref}/mitigate", {"version": 1}, expect(403, 403, 200, 200, 403, 403)),
    ("post", "/api/incidents/{ref}/reopen", {"version": 1, "reason": "x"}, expect(403, 403, 409, 409, 403, 403)),
    ("post", "/api/incidents/{ref}/reactivate", {"version": 1, "reason": "x"}, expect(403, 403, 409, 409, 403, 403)),
    ("post", "/api/incidents/{ref}/close", {"version": 1}, expect(403, 403, 403, 409, 403, 403)),
    # The timeline, notes and following (incidents/api/timeline.py). The reporter reported {ref}:
    # they may note it, as on the page.
    ("get", "/api/incidents/{ref}/timeline", None, expect(403, 200, 200, 200, 200, 200)),
    ("get", "/api/incidents/{ref}/notes", None, expect(403, 200, 200, 200, 200, 200)),
    ("post", "/api/incidents/{ref}/notes", {"text": "Seen."}, expect(403, 201, 201, 201, 403, 201)),
    ("get", "/api/incidents/{ref}/updates", None, expect(403, 200, 200, 200, 200, 200)),
    ("post", "/api/incidents/{ref}/follow", None, expect(403, 200, 200, 200, 200, 403)),
    ("post", "/api/incidents/{ref}/unfollow", None, expect(403, 200, 200, 200, 200, 403)),
    ("get", "/api/incidents/{ref}/followers", None, expect(403, 403, 403, 200, 403, 403)),
    # Types and who is on call (incidents/api/catalog.py).
    ("get", "/api/types", None, expect(403, 200, 200, 200, 200, 200)),
    ("get", "/api/types/security", None, expect(403, 200, 200, 200, 200, 200)),
    ("get", "/api/oncall", None, expect(403, 200, 200, 200, 200, 200)),
    # Escalation policies, read only (incidents/api/policies.py).
    ("get", "/api/escalation-policies", None, expect(403, 200, 200, 200, 200, 200)),
    ("get", "/api/escalation-policies/999999", None, expect(403, 404, 404, 404, 404, 404)),
    # Reviews and action items (reviews/api.py). {ref} is open: it has no review, and none can start.
    ("get", "/api/incidents/{ref}/review", None, expect(403, 404, 404, 404, 404, 404)),
    ("post", "/api/incidents/{ref}/review", None, expect(403, 403, 409, 409, 403, 403)),
    ("put", "/api/incidents/{ref}/review", {"version": 1}, expect(403, 403, 404, 404, 403, 403)),
    (
        "post",
        "/api/incidents/{ref}/review/action-items",
        {"title": "Canary", "owner": "rob", "type": "preventive"},
        expect(403, 403, 404, 404, 403, 403),
    ),
    ("get", "/api/action-items", None, expect(403, 200, 200, 200, 200, 200)),
    ("patch", "/api/action-items/999999", {}, expect(403, 403, 404, 404, 403, 403)),
    ("post", "/api/action-items/999999/state", {"state": "done"}, expect(403, 404, 404, 404, 404, 403)),
]


@pytest.mark.parametrize("method, template, body, expected", MATRIX, ids=[f"{m} {u}" for m, u, _, _ in MATRIX])
@pytest.mark.parametrize("role", ROLES)
def test_api_role_matrix(role, method, template, body, expected, users, reporter):
    incident = make_incident(by=reporter)
    token = integration_token() if role == "integration" else personal_token(users[role])
    response = call(method, template.format(ref=incident.ref, task=incident.tasks.first().pk), token, body)
    assert response.status_code == expected[role], (role, response.json())
    assert response["Content-Type"].startswith("application/json")


def test_a_403_comes_before_the_body_is_read(viewer):
    response = call("post", "/api/incidents", personal_token(viewer), "{not json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Your role does not allow this."}


def test_an_integration_acts_as_beacon_itself(reporter):
    ServiceFactory(name="Checkout")
    token = integration_token()
    created = call("post", "/api/incidents", token, {**NEW, "service": "checkout"})
    assert created.status_code == 201
    assert created.json()["reporter"] is None
    incident = Incident.objects.get(pk=int(created.json()["ref"].removeprefix("INC-")))
    assert incident.reporter is None
    assert incident.source == Incident.Source.API
    assert incident.timeline.get().author is None

    update = call("post", f"/api/incidents/{incident.ref}/updates", token, {"message": "Investigating."})
    assert update.status_code == 201
    assert update.json()["author"] is None
    assert StatusUpdate.objects.get().author is None


def test_integrations_may_not_acknowledge_or_resolve(reporter):
    incident = make_incident(by=reporter)
    token = integration_token()
    response = call("post", f"/api/incidents/{incident.ref}/acknowledge", token)
    assert response.status_code == 403
    assert "person" in response.json()["detail"]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.REPORTED
    workflow.acknowledge(incident, by=None)
    response = call("post", f"/api/incidents/{incident.ref}/resolve", token, {"summary": "x", "confirmed": True})
    assert response.status_code == 403
