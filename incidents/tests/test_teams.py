"""Teams (docs/teams.md): the one rule of who configures a team's things (incidents/teams.py
may_configure), the teams pages, and the "my teams" default of the dashboard, the incident list
and /reports/ with "everything" one click away."""

import pytest

from conftest import make_user
from incidents import roles, workflow
from incidents.models import Incident, Team, TeamMembership
from incidents.teams import configurable_teams, may_configure
from incidents.tests.factories import ServiceFactory, make_incident

ROLES = ["reporter", "responder", "manager", "viewer", "nobody"]


@pytest.fixture
def payments(db):
    return Team.objects.create(name="Payments")


@pytest.fixture
def search(db):
    return Team.objects.create(name="Search")


def join(user, team, *, manager=False, from_identity_provider=False):
    return TeamMembership.objects.create(
        team=team, user=user, is_manager=manager, from_identity_provider=from_identity_provider
    )


# --- the rule: each role x own team / other team / no team -------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("membership", ["none", "member", "manager"])
def test_may_configure_each_role_for_own_other_and_no_team(role, membership, users, payments, search):
    user = users[role]
    if membership != "none":
        join(user, payments, manager=membership == "manager")
    is_global = role == "manager"
    # A team's manager configures their own team (if they hold a role at all), never another's.
    own = is_global or (membership == "manager" and role != "nobody")
    assert may_configure(user, payments) is own
    assert may_configure(user, search) is is_global
    # What belongs to no team is for global managers only.
    assert may_configure(user, None) is is_global
    expected = {payments, search} if is_global else ({payments} if own else set())
    assert set(configurable_teams(user)) == expected


def test_may_configure_refuses_the_signed_out_and_the_deactivated(manager, responder, payments):
    from django.contrib.auth.models import AnonymousUser

    join(responder, payments, manager=True)
    assert may_configure(AnonymousUser(), payments) is False
    assert may_configure(None, payments) is False
    assert list(configurable_teams(AnonymousUser())) == []
    for user in (manager, responder):
        user.is_active = False
        user.save()
        assert may_configure(user, payments) is False
        assert list(configurable_teams(user)) == []


def test_team_manager_check_is_one_query(responder, payments, django_assert_num_queries):
    join(responder, payments, manager=True)
    responder.has_perm(roles.VIEW_INCIDENT)  # the permissions, as any page has loaded them
    with django_assert_num_queries(1):
        assert may_configure(responder, payments)


# --- the teams pages ----------------------------------------------------------------------


def test_team_list_shows_every_team_own_first_to_any_role(clients, responder, payments, search):
    join(responder, search)
    response = clients["responder"].get("/teams/")
    assert response.status_code == 200
    assert [t.name for t in response.context["teams"]] == ["Search", "Payments"]
    assert "New team" not in response.content.decode()  # only global managers create teams
    assert "New team" in clients["manager"].get("/teams/").content.decode()


def test_team_list_and_page_queries_are_bounded(clients, users, responder, django_assert_max_num_queries, payments):
    for i in range(30):
        team = Team.objects.create(name=f"Team {i}")
        ServiceFactory(name=f"Service {i}", team=team)
    for i in range(40):
        join(make_user(f"member{i}", roles.RESPONDER), payments, manager=i % 5 == 0)
        ServiceFactory(name=f"Pay {i}", team=payments)
    join(responder, payments, manager=True)
    client = clients["responder"]
    client.get("/teams/")
    with django_assert_max_num_queries(6):  # session, user, permissions (2), teams, memberships
        assert client.get("/teams/").status_code == 200
    with django_assert_max_num_queries(9):  # + the team, members, services, rotations, the rule
        response = client.get(f"/teams/{payments.slug}/")
    assert response.status_code == 200
    assert len(response.context["team"].memberships.all()) == 41
    assert response.context["may_configure"] is True


def test_manager_creates_a_team_and_bad_names_are_refused(clients, manager):
    response = clients["manager"].post("/teams/new/", {"name": "Payments", "description": "Cards and invoices"})
    team = Team.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/teams/{team.slug}/"
    assert (team.name, team.slug) == ("Payments", "payments")
    for bad, message in [
        ({"name": "Payments"}, "exists already"),
        ({"name": "!!!"}, "at least one letter or digit"),
        ({"name": ""}, "This field is required"),
    ]:
        response = clients["manager"].post("/teams/new/", bad, follow=True)
        assert message in response.content.decode(), bad
    assert Team.objects.count() == 1
    assert clients["responder"].post("/teams/new/", {"name": "Rogue"}).status_code == 403
    assert Team.objects.count() == 1


def test_team_manager_adds_promotes_and_removes_members_of_own_team_only(
    clients, responder, other_responder, viewer, payments, search
):
    join(responder, payments, manager=True)
    client = clients["responder"]
    response = client.post(f"/teams/{payments.slug}/members/", {"username": "ola"})
    assert response.status_code == 302
    membership = TeamMembership.objects.get(team=payments, user=other_responder)
    assert membership.is_manager is False
    client.post(f"/teams/{payments.slug}/members/", {"username": "ola", "is_manager": "on"})
    membership.refresh_from_db()
    assert membership.is_manager is True
    assert TeamMembership.objects.filter(team=payments, user=other_responder).count() == 1
    response = client.post(f"/teams/{payments.slug}/members/{other_responder.pk}/remove/")
    assert response.status_code == 302
    assert not TeamMembership.objects.filter(team=payments, user=other_responder).exists()
    # Another team's members are not theirs to change.
    assert client.post(f"/teams/{search.slug}/members/", {"username": "vic"}).status_code == 403
    join(viewer, search)
    assert client.post(f"/teams/{search.slug}/members/{viewer.pk}/remove/").status_code == 403
    assert TeamMembership.objects.filter(team=search).count() == 1
    # A plain member changes nothing.
    join(other_responder, payments)
    assert clients["viewer"].post(f"/teams/{payments.slug}/members/", {"username": "vic"}).status_code == 403


def test_bad_member_input_is_refused_with_a_message_and_nothing_written(clients, manager, payments):
    client = clients["manager"]
    for bad, message in [
        ({"username": "ghost"}, "No active user is called “ghost”."),
        ({"username": ""}, "This field is required."),
    ]:
        response = client.post(f"/teams/{payments.slug}/members/", bad, follow=True)
        assert message in response.content.decode()
    inactive = make_user("gone", roles.RESPONDER, is_active=False)
    response = client.post(f"/teams/{payments.slug}/members/", {"username": inactive.username}, follow=True)
    assert "No active user is called “gone”." in response.content.decode()
    assert not TeamMembership.objects.exists()
    assert client.post("/teams/no-such-team/members/", {"username": "maya"}).status_code == 404
    assert client.post(f"/teams/{payments.slug}/members/999999/remove/").status_code == 404


def test_a_membership_from_the_identity_provider_is_not_removed_by_hand(clients, manager, responder, payments):
    join(responder, payments, from_identity_provider=True)
    response = clients["manager"].post(f"/teams/{payments.slug}/members/{responder.pk}/remove/", follow=True)
    assert "through the identity provider" in response.content.decode()
    assert TeamMembership.objects.filter(team=payments, user=responder).exists()


# --- "my teams" first, everything one click away -------------------------------------------


@pytest.fixture
def world(responder, other_responder, payments, search):
    """Responder is in Payments; an incident each for Payments, Search, no team, and one of
    Search that the responder leads."""
    join(responder, payments)
    pay = ServiceFactory(name="Checkout", team=payments)
    find = ServiceFactory(name="Search box", team=search)
    loose = ServiceFactory(name="Wiki")
    return {
        "payments": make_incident(by=other_responder, service=pay, title="Payments down"),
        "search": make_incident(by=other_responder, service=find, title="Search slow"),
        "loose": make_incident(by=other_responder, service=loose, title="Wiki gone"),
        "led": workflow.take(make_incident(by=other_responder, service=find, title="Search index stale"), by=responder),
    }


def _titles(incidents) -> set[str]:
    return {i.title for i in incidents}


def test_dashboard_defaults_to_my_teams_and_one_click_shows_everything_and_sticks(clients, world):
    client = clients["responder"]
    mine = client.get("/")
    assert _titles(mine.context["incidents"]) == {"Payments down", "Wiki gone", "Search index stale"}
    html = mine.content.decode()
    assert "<strong>my teams</strong> (Payments;" in html and "teams=all" in html
    everything = client.get("/?teams=all")
    assert _titles(everything.context["incidents"]) == {i.title for i in world.values()}
    # The choice is remembered: the next plain visit (and the board's refresh) shows everything.
    assert len(client.get("/").context["incidents"]) == 4
    assert len(client.get("/", headers={"HX-Request": "true"}).context["incidents"]) == 4
    assert len(client.get("/?teams=mine").context["incidents"]) == 3
    assert len(client.get("/").context["incidents"]) == 3
    # A value that means nothing changes nothing (and breaks nothing).
    assert len(client.get("/?teams=bogus").context["incidents"]) == 3


def test_a_user_in_no_team_sees_everything_and_no_choice(clients, world):
    response = clients["manager"].get("/?teams=mine")
    assert len(response.context["incidents"]) == 4
    assert "teams-scope" not in response.content.decode()


def test_incident_list_defaults_to_my_teams_keeps_filters_and_filters_by_team(clients, world, search):
    client = clients["responder"]
    listed = client.get("/incidents/?q=search")
    assert _titles(listed.context["page"].object_list) == {"Search index stale"}
    assert listed.context["teams_all_url"] == "/incidents/?q=search&teams=all"
    everything = client.get("/incidents/?q=search&teams=all")
    assert _titles(everything.context["page"].object_list) == {"Search slow", "Search index stale"}
    one_team = client.get(f"/incidents/?team={search.slug}")
    assert _titles(one_team.context["page"].object_list) == {"Search slow", "Search index stale"}
    bad = client.get("/incidents/?team=no-such-team")
    assert "Select a valid choice" in bad.content.decode()


def test_reports_default_to_my_teams_and_their_links_say_so(clients, world):
    client = clients["responder"]
    response = client.get("/reports/")
    assert response.status_code == 200
    names = {row.service.name for row in response.context["services"]}
    assert names == {"Checkout", "Wiki"}  # my team's services and those of no team
    assert "teams=mine" in response.context["query"]
    everything = client.get("/reports/?teams=all")
    assert {row.service.name for row in everything.context["services"]} == {"Checkout", "Wiki", "Search box"}
    csv = b"".join(client.get("/reports/export.csv").streaming_content).decode()
    assert "search-box" in csv  # the remembered choice: everything
    csv = b"".join(client.get("/reports/export.csv?teams=mine").streaming_content).decode()
    assert "search-box" not in csv and "checkout" in csv
    # The incident list's export is what the list shows: the remembered "my teams" here.
    listed = b"".join(client.get("/incidents/export.csv").streaming_content).decode()
    assert "Payments down" in listed and "Search slow" not in listed
    listed = b"".join(client.get("/incidents/export.csv?teams=all").streaming_content).decode()
    assert "Search slow" in listed


def test_dashboard_and_list_stay_bounded_under_my_teams(clients, responder, payments, django_assert_max_num_queries):
    join(responder, payments)
    services = [ServiceFactory(name=f"S{i}", team=payments if i % 2 else None) for i in range(10)]
    for i in range(150):
        make_incident(by=responder, service=services[i % 10], title=f"Incident {i}")
    client = clients["responder"]
    client.get("/")
    client.get("/incidents/")
    with django_assert_max_num_queries(20):
        assert client.get("/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/incidents/").status_code == 200
    assert Incident.objects.count() == 150
