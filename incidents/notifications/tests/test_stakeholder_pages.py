"""A service's stakeholder list on Beacon's own page (incidents/notifications/views.py): kept by
the managers of the service's team and by global managers (incidents/teams.py may_configure)."""

import pytest

from incidents.models import Subscription, Team, TeamMembership
from incidents.tests.factories import ServiceFactory

ROLES = ["reporter", "responder", "manager", "viewer", "nobody"]


@pytest.fixture
def services(db):
    payments, search = Team.objects.create(name="Payments"), Team.objects.create(name="Search")
    return {
        "own": ServiceFactory(name="Checkout", team=payments),
        "other": ServiceFactory(name="Search box", team=search),
        "none": ServiceFactory(name="Wiki"),
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("team_manager", [False, True])
def test_each_role_x_own_other_and_no_team_service(role, team_manager, clients, users, services):
    if team_manager:
        TeamMembership.objects.create(team=services["own"].team, user=users[role], is_manager=True)
    client = clients[role]
    is_global = role == "manager"
    allowed = {"own": is_global or (team_manager and role != "nobody"), "other": is_global, "none": is_global}
    for which, service in services.items():
        url = f"/incidents/services/{service.slug}/stakeholders/"
        assert client.get(url).status_code == (200 if allowed[which] else 403), (role, which)
        response = client.post(url, {"email": f"{which}@partner.example"})
        assert response.status_code == (302 if allowed[which] else 403), (role, which)
        row = Subscription.objects.filter(service=service, email=f"{which}@partner.example").first()
        assert (row is not None) is allowed[which]
        if row is None:
            row = Subscription.objects.create(service=service, email=f"{which}@partner.example")
        response = client.post(f"{url}{row.pk}/remove/")
        assert response.status_code == (302 if allowed[which] else 403), (role, which)
        assert Subscription.objects.filter(pk=row.pk).exists() is not allowed[which]


def test_team_manager_adds_users_and_addresses_and_bad_input_is_refused(clients, responder, viewer, services):
    service = services["own"]
    TeamMembership.objects.create(team=service.team, user=responder, is_manager=True)
    client = clients["responder"]
    url = f"/incidents/services/{service.slug}/stakeholders/"
    assert client.post(url, {"username": "vic"}).status_code == 302
    assert client.post(url, {"email": "cfo@partner.example"}).status_code == 302
    again = client.post(url, {"email": "cfo@partner.example"}, follow=True)
    assert "on the stakeholder list of Checkout already" in again.content.decode()
    for bad, message in [
        ({}, "Give either a username or an outside email address."),
        ({"username": "vic", "email": "x@partner.example"}, "Give either a username or an outside email address."),
        ({"username": "ghost"}, "No active user is called “ghost”."),
        ({"email": "not an address"}, "Enter a valid email address."),
    ]:
        response = client.post(url, bad)
        assert response.status_code == 422 and message in response.content.decode(), bad
    rows = Subscription.objects.filter(service=service)
    assert {(r.user_id, r.email) for r in rows} == {(viewer.pk, ""), (None, "cfo@partner.example")}
    assert client.get("/incidents/services/no-such/stakeholders/").status_code == 404
    other = Subscription.objects.create(service=services["none"], email="a@partner.example")
    # A row of another service is not found through this one.
    assert client.post(f"{url}{other.pk}/remove/").status_code == 404


def test_stakeholder_page_queries_are_bounded(clients, manager, services, django_assert_max_num_queries):
    service = services["own"]
    Subscription.objects.bulk_create(
        Subscription(service=service, email=f"person{i}@partner.example") for i in range(200)
    )
    client = clients["manager"]
    client.get(f"/incidents/services/{service.slug}/stakeholders/")
    with django_assert_max_num_queries(7):  # session, user, permissions (2), the service, the list
        response = client.get(f"/incidents/services/{service.slug}/stakeholders/")
    assert len(response.context["rows"]) == 200


# --- following: my teams' services first, one click to follow them all -----------------------


def test_profile_lists_my_teams_services_first_and_follows_them_in_one_click(clients, responder, services):
    TeamMembership.objects.create(team=services["own"].team, user=responder)
    mine = ServiceFactory(name="Adyen", team=services["own"].team)
    Subscription.objects.follow(responder, service=services["own"])
    client = clients["responder"]
    response = client.get("/accounts/profile/")
    listed = [(service.name, followed, of_mine) for service, followed, of_mine in response.context["services"]]
    assert listed == [
        ("Adyen", False, True),
        ("Checkout", True, True),
        ("Search box", False, False),
        ("Wiki", False, False),
    ]
    assert response.context["team_services_to_follow"] == 1
    assert "Follow the 1 service of my teams" in response.content.decode()
    response = client.post("/accounts/profile/notifications/my-teams/", follow=True)
    assert "You now follow 1 more service of your teams." in response.content.decode()
    followed = set(Subscription.objects.filter(user=responder).values_list("service__name", flat=True))
    assert followed == {"Adyen", "Checkout"}
    assert mine.subscriptions.count() == 1
    # Twice changes nothing.
    client.post("/accounts/profile/notifications/my-teams/")
    assert Subscription.objects.filter(user=responder).count() == 2


def test_follow_my_teams_without_a_team_says_so_and_follows_nothing(clients, viewer, services):
    response = clients["viewer"].post("/accounts/profile/notifications/my-teams/", follow=True)
    assert "You are in no team" in response.content.decode()
    assert not Subscription.objects.filter(user=viewer).exists()
    assert clients["viewer"].get("/accounts/profile/notifications/my-teams/").status_code == 405
