"""Who may lead: the incident page's lead select is drawn from a cached list, which every change
to people, groups or permissions drops at once; a submitted lead is checked against the database."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import make_user
from incidents import roles
from incidents.choices import KEY
from incidents.models import Incident
from incidents.people import responder_choices, responders
from incidents.tests.factories import make_incident

RESPONDERS_CACHE_KEY = KEY.format("responders")


@pytest.fixture
def incident(reporter) -> Incident:
    return make_incident(by=reporter)


def lead_options(client, incident) -> dict[str, str]:
    page = client.get(f"/incidents/{incident.ref}/").content.decode()
    select = re.search(r'<select name="lead".*?</select>', page, re.S).group(0)
    return dict(re.findall(r'<option value="(\d*)"[^>]*>([^<]*)</option>', select))


def test_the_cached_list_is_the_query(responder, other_responder, manager, reporter, viewer):
    assert responder_choices() == [(u.pk, u.get_full_name() or u.username) for u in responders()]
    assert cache.get(RESPONDERS_CACHE_KEY) == responder_choices()
    assert reporter.pk not in dict(responder_choices()) and viewer.pk not in dict(responder_choices())


def test_every_change_to_who_may_lead_shows_in_the_select_at_once(
    clients, incident, responder, reporter, other_responder
):
    client = clients["manager"]
    assert lead_options(client, incident)[str(other_responder.pk)] == "Ola Oncall"
    assert str(reporter.pk) not in lead_options(client, incident)

    reporter.groups.add(Group.objects.get(name=roles.RESPONDER))  # a group
    assert str(reporter.pk) in lead_options(client, incident)
    other_responder.first_name = "Olga"  # a name
    other_responder.save()
    assert lead_options(client, incident)[str(other_responder.pk)] == "Olga Oncall"
    other_responder.is_active = False  # an account switched off
    other_responder.save()
    assert str(other_responder.pk) not in lead_options(client, incident)
    reporter.groups.clear()
    assert str(reporter.pk) not in lead_options(client, incident)

    direct = make_user("dina")  # a permission given to the person
    direct.user_permissions.add(Permission.objects.get(codename="respond_incident"))
    assert str(direct.pk) in lead_options(client, incident)
    Group.objects.get(name=roles.RESPONDER).permissions.remove(Permission.objects.get(codename="respond_incident"))
    options = lead_options(client, incident)  # a group's permission taken away
    assert str(direct.pk) in options and str(responder.pk) not in options


@pytest.mark.parametrize("stale", [True, False])
def test_a_stale_list_cannot_make_anyone_lead_who_may_not(clients, incident, reporter, stale):
    if stale:  # as another process's memory cache may hold it for up to a minute
        cache.set(RESPONDERS_CACHE_KEY, [(reporter.pk, "Stale Entry")], 60)
    answer = clients["responder"].post(f"/incidents/{incident.ref}/lead/", {"lead": reporter.pk})
    assert answer.status_code == 422
    assert "Choose one of the listed responders." in answer.content.decode()
    incident.refresh_from_db()
    assert incident.lead != reporter


def permission_queries(client, url) -> list[str]:
    client.get(url)  # the lead select's list cached: it reads the permission tables too
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries.captured_queries if "auth_permission" in q["sql"]]


def test_a_signed_in_page_reads_permissions_in_one_query(clients, incident):
    for url in ("/", "/incidents/", f"/incidents/{incident.ref}/"):
        assert len(permission_queries(clients["responder"], url)) == 1, url


def test_permissions_read_in_one_query_are_the_users_own_and_their_groups(clients, responder, reporter):
    from incidents.people import load_permissions

    reporter.user_permissions.add(Permission.objects.get(codename="close_incident"))
    for user in (responder, reporter):
        fresh = type(user).objects.get(pk=user.pk)
        load_permissions(fresh)
        expected = type(user).objects.get(pk=user.pk).get_all_permissions()  # Django's two queries
        assert set(fresh._perm_cache) == expected and expected
        assert fresh.get_all_permissions() == expected
    assert "incidents.close_incident" in reporter.get_all_permissions()
    assert "incidents.respond_incident" not in reporter.get_all_permissions()


def test_a_permission_taken_away_counts_from_the_next_request(clients, responder, incident):
    client = clients["responder"]
    assert client.post(f"/incidents/{incident.ref}/acknowledge/").status_code == 302
    responder.groups.clear()
    responder.groups.add(Group.objects.get(name=roles.VIEWER))
    assert client.post(f"/incidents/{incident.ref}/mitigate/", {"text": ""}).status_code == 403
    assert client.get("/").status_code == 200  # a viewer still sees the dashboard


def test_a_request_that_checks_no_permission_reads_none(responder):
    from incidents.people import load_permissions

    with CaptureQueriesContext(connection) as queries:
        load_permissions(responder)
    assert len(queries) == 0
    with CaptureQueriesContext(connection) as queries:
        assert responder.has_perm(roles.RESPOND_INCIDENT) and not responder.has_perm(roles.CLOSE_INCIDENT)
    assert len(queries) == 1


def test_superusers_and_switched_off_accounts_are_left_to_django(db):
    from incidents.people import load_permissions

    boss = make_user("boss", is_superuser=True)
    gone = make_user("gone", roles.RESPONDER, is_active=False)
    with CaptureQueriesContext(connection) as queries:
        load_permissions(boss)
        load_permissions(gone)
    assert len(queries) == 0
    assert boss.has_perm(roles.CLOSE_INCIDENT) and not gone.has_perm(roles.RESPOND_INCIDENT)


def test_two_reasons_to_lead_are_as_good_as_one(db):
    # In the Responder group and given the permission directly; a superuser in the group too.
    both = make_user("bea", roles.RESPONDER)
    both.user_permissions.add(Permission.objects.get(codename="respond_incident"))
    boss = make_user("boss", roles.RESPONDER, is_superuser=True)
    root = make_user("root", is_superuser=True)  # no group, the permission given directly
    root.user_permissions.add(Permission.objects.get(codename="respond_incident"))
    assert {both.pk, boss.pk, root.pk} <= set(responders().values_list("pk", flat=True))
    assert {both.pk, boss.pk, root.pk} <= set(dict(responder_choices()))


def test_a_superuser_keeps_every_permission_django_gives(db):
    from incidents.people import load_permissions

    boss = make_user("boss", is_superuser=True)
    load_permissions(boss)
    assert boss.get_all_permissions() == {
        f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")
    }


def test_permissions_django_already_read_are_not_read_again(responder):
    from incidents.people import load_permissions

    assert responder.has_perm(roles.RESPOND_INCIDENT)  # Django's own reading, kept on the user
    load_permissions(responder)
    with CaptureQueriesContext(connection) as queries:
        assert responder.has_perm(roles.RESPOND_INCIDENT) and not responder.has_perm(roles.CLOSE_INCIDENT)
    assert len(queries) == 0
