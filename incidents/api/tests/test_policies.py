"""Escalation policies through the API (incidents/api/policies.py): read only, for every role."""

from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import EscalationStep
from incidents.oncall.tests.data import make_policy, make_rotation
from incidents.tests.factories import ServiceFactory


def test_policies_list_with_steps_and_services_in_fixed_queries(viewer, responder, django_assert_max_num_queries):
    checkout = ServiceFactory(name="Checkout", slug="checkout")
    rotation = make_rotation("Checkout primary", members=[responder], services=[checkout])
    for i in range(5):
        make_policy(
            f"P{i}",
            steps=[
                {"target": EscalationStep.Target.ON_CALL, "rotation": rotation, "delay_minutes": 5},
                {"target": EscalationStep.Target.USER, "user": responder},
            ],
            severities=["critical"],
            services=[checkout] if i == 0 else [],
        )
    token = personal_token(viewer)
    call("get", "/api/escalation-policies", token)
    with django_assert_max_num_queries(7):  # the token, its permissions (2), policies, steps, services
        listed = call("get", "/api/escalation-policies", token)
    assert listed.status_code == 200
    body = listed.json()
    assert [p["name"] for p in body] == ["Default", "P0", "P1", "P2", "P3", "P4"]
    assert body[0]["is_default"] and body[0]["severities"] == ["critical", "high"]
    assert [s["target"] for s in body[0]["steps"]] == ["next", "managers"]
    p0 = body[1]
    assert p0["services"] == ["checkout"] and p0["team"] is None
    assert p0["steps"] == [
        {
            "position": 0,
            "delay_minutes": 5,
            "target": "on_call",
            "rotation": "Checkout primary",
            "user": None,
            "description": "the on-call of Checkout primary",
        },
        {
            "position": 1,
            "delay_minutes": None,
            "target": "user",
            "rotation": None,
            "user": "rob",
            "description": "Rob Responder",
        },
    ]
    one = call("get", f"/api/escalation-policies/{p0['id']}", integration_token())
    assert one.status_code == 200 and one.json() == p0


def test_unknown_policy_and_parameters_are_refused_clearly(viewer):
    token = personal_token(viewer)
    response = call("get", "/api/escalation-policies/999999", token)
    assert (response.status_code, response.json()) == (404, {"detail": "There is no escalation policy 999999."})
    assert call("get", "/api/escalation-policies?team=x", token).status_code == 422
    assert call("get", "/api/escalation-policies/abc", token).status_code in (404, 422)
