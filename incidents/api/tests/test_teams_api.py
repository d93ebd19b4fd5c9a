"""Teams through the API (incidents/api/catalog.py) and the `team` filter of GET /api/incidents.
The API has no "my teams" default: without `team` a caller gets every team's incidents."""

from incidents.api.tests.support import call, personal_token
from incidents.models import Team, TeamMembership
from incidents.tests.factories import ServiceFactory, make_incident


def test_teams_are_listed_with_services_and_members_in_bounded_queries(
    viewer, responder, django_assert_max_num_queries
):
    for i in range(20):
        team = Team.objects.create(name=f"Team {i:02}")
        ServiceFactory(name=f"Service {i}", team=team)
        TeamMembership.objects.create(team=team, user=responder, is_manager=i % 2 == 0)
    token = personal_token(viewer)
    call("get", "/api/teams", token)
    with django_assert_max_num_queries(6):  # the token, its permissions (2), teams, services, members
        response = call("get", "/api/teams", token)
    assert response.status_code == 200
    first = response.json()[0]
    assert first == {
        "slug": "team-00",
        "name": "Team 00",
        "description": "",
        "services": [{"slug": "service-0", "name": "Service 0"}],
        "members": [{"username": "rob", "name": "Rob Responder", "manager": True}],
    }
    assert len(response.json()) == 20
    assert call("get", "/api/teams?mine=true", token).status_code == 422
    assert call("get", "/api/teams").status_code == 401


def test_incidents_filter_by_team_and_default_to_everything(viewer, responder):
    payments = Team.objects.create(name="Payments")
    TeamMembership.objects.create(team=payments, user=viewer)
    make_incident(by=responder, service=ServiceFactory(name="Checkout", team=payments), title="Pay")
    make_incident(by=responder, service=ServiceFactory(name="Search"), title="Find")
    token = personal_token(viewer)
    everything = call("get", "/api/incidents", token).json()
    assert {i["title"] for i in everything["items"]} == {"Pay", "Find"}
    only = call("get", "/api/incidents?team=payments", token).json()
    assert [i["title"] for i in only["items"]] == ["Pay"]
    bad = call("get", "/api/incidents?team=nope", token)
    assert bad.status_code == 422
    assert "There is no team with this slug; GET /api/teams lists them." in bad.content.decode()
