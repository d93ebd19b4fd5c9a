"""A team's managers configure the team's rotations and their overrides, not other teams'
(incidents/teams.py may_configure); global managers configure every rotation. Each role x a
rotation of their own team, of another team and of no team."""

import datetime as dt

import pytest

from incidents.models import Override, Rotation, Team, TeamMembership
from incidents.oncall.tests.data import make_override, make_rotation
from incidents.oncall.tests.test_pages import rotation_post
from incidents.tests.factories import ServiceFactory

ROLES = ["reporter", "responder", "manager", "viewer", "nobody"]


@pytest.fixture
def teams(db):
    return Team.objects.create(name="Payments"), Team.objects.create(name="Search")


@pytest.fixture
def rotations(teams, responder, other_responder):
    payments, search = teams
    checkout = ServiceFactory(name="Checkout", team=payments)
    box = ServiceFactory(name="Search box", team=search)
    members = [responder, other_responder]
    return {
        "own": make_rotation("Payments primary", members=members, services=[checkout], team=payments),
        "other": make_rotation("Search primary", members=members, services=[box], team=search),
        "none": make_rotation("Everything else", members=members, default=True),
    }


def _urls(rotation: Rotation) -> dict[str, str]:
    return {
        "edit": f"/oncall/rotations/{rotation.pk}/edit/",
        "override": f"/oncall/rotations/{rotation.pk}/overrides/new/",
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("team_manager", [False, True])
def test_each_role_x_own_other_and_no_team_rotation(role, team_manager, clients, users, teams, rotations):
    payments, _ = teams
    if team_manager:
        TeamMembership.objects.create(team=payments, user=users[role], is_manager=True)
    client = clients[role]
    is_global = role == "manager"
    own_ok = is_global or (team_manager and role != "nobody")
    expected = {"own": own_ok, "other": is_global, "none": is_global}
    now = dt.datetime.now(dt.UTC)
    for which, rotation in rotations.items():
        want = 200 if expected[which] else 403
        for name, url in _urls(rotation).items():
            assert client.get(url).status_code == want, (role, team_manager, which, name)
        override = make_override(rotation, users["responder"], now + dt.timedelta(hours=1), now + dt.timedelta(hours=2))
        response = client.post(f"/oncall/overrides/{override.pk}/delete/")
        assert response.status_code == (302 if expected[which] else 403), (role, team_manager, which)
        assert Override.objects.filter(pk=override.pk).exists() is not expected[which]
    assert client.get("/oncall/rotations/new/").status_code == (200 if own_ok else 403)


def test_team_manager_creates_a_rotation_for_own_team_only(clients, responder, other_responder, teams):
    payments, search = teams
    TeamMembership.objects.create(team=payments, user=responder, is_manager=True)
    checkout = ServiceFactory(name="Checkout", team=payments)
    client = clients["responder"]
    page = client.get("/oncall/rotations/new/").content.decode()
    assert "Payments" in page and "Search</option>" not in page
    # No team, another team, an unknown team: refused with a message, nothing written.
    for team, message in [
        ("", "Choose the team this rotation belongs to: one of the teams you manage."),
        (str(search.pk), "Choose one of the teams you manage."),
        ("999999", "Choose one of the teams you manage."),
    ]:
        response = client.post("/oncall/rotations/new/", rotation_post(services=[checkout.pk], team=team))
        assert response.status_code == 422 and message in response.content.decode(), team
    # The default for everything answers for every team: not one team's to set.
    response = client.post("/oncall/rotations/new/", rotation_post(team=payments.pk, is_default="on"))
    assert response.status_code == 422
    assert "Only a global manager may make a rotation the default" in response.content.decode()
    assert not Rotation.objects.exists()
    response = client.post("/oncall/rotations/new/", rotation_post(services=[checkout.pk], team=payments.pk))
    assert response.status_code == 302
    rotation = Rotation.objects.get()
    assert rotation.team == payments
    # Its page lets them edit it; others' rotations show no edit link to them.
    other = make_rotation("Search primary", services=[ServiceFactory(name="Box", team=search)], team=search)
    html = client.get("/oncall/").content.decode()
    assert f"/oncall/rotations/{rotation.pk}/edit/" in html
    assert f"/oncall/rotations/{other.pk}/edit/" not in html


def test_team_manager_keeps_a_default_rotation_default_when_editing(clients, responder, other_responder, teams):
    payments, _ = teams
    TeamMembership.objects.create(team=payments, user=responder, is_manager=True)
    rotation = make_rotation("Everything", default=True, team=payments)
    response = clients["responder"].post(
        f"/oncall/rotations/{rotation.pk}/edit/", rotation_post(team=payments.pk, is_default="on")
    )
    assert response.status_code == 302
    rotation.refresh_from_db()
    assert rotation.is_default and rotation.name == "Search"


def test_global_manager_may_leave_a_rotation_to_no_team(clients, manager, responder, other_responder):
    response = clients["manager"].post("/oncall/rotations/new/", rotation_post(is_default="on", team=""))
    assert response.status_code == 302
    assert Rotation.objects.get().team is None


def test_calendar_stays_bounded_for_a_team_manager(clients, responder, teams, django_assert_max_num_queries):
    payments, search = teams
    TeamMembership.objects.create(team=payments, user=responder, is_manager=True)
    for i in range(12):
        make_rotation(
            f"R{i}", members=[responder], services=[ServiceFactory(name=f"S{i}")], team=(payments, search, None)[i % 3]
        )
    client = clients["responder"]
    client.get("/oncall/")
    with django_assert_max_num_queries(10):
        response = client.get("/oncall/")
    assert sum(1 for item in response.context["rotations"] if item["may_configure"]) == 4
