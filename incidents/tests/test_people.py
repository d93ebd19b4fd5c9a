"""Who may lead: the incident page's lead select is drawn from a cached list, which every change
to people, groups or permissions drops at once; a submitted lead is checked against the database."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache

from conftest import make_user
from incidents import roles
from incidents.models import Incident
from incidents.people import RESPONDERS_CACHE_KEY, responder_choices, responders
from incidents.tests.factories import make_incident


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
