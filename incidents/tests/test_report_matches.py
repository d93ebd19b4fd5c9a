"""One outage, one incident: while reporting, open incidents that look like the same thing are
offered to follow instead (the report form, and its htmx suggestions as the title is typed)."""

import pytest

from incidents import workflow
from incidents.models import Incident, Subscription
from incidents.tests.factories import ServiceFactory, make_incident

MATCHES = "/incidents/new/matches/"


@pytest.fixture
def services(db):
    return {"checkout": ServiceFactory(name="Checkout"), "search": ServiceFactory(name="Search")}


@pytest.fixture
def open_incidents(services, responder, manager):
    cards = make_incident(by=responder, title="Card payments fail at checkout", service=services["checkout"])
    slow = make_incident(
        by=responder, title="Search suggestions are slow", description="They take 4 s.", service=services["search"]
    )
    banner = make_incident(by=responder, title="Banner typo", description="A typo.", service=services["checkout"])
    fixed = make_incident(by=responder, title="Card payments failed yesterday", service=services["checkout"])
    workflow.acknowledge(fixed, by=responder)
    workflow.resolve(fixed, by=responder, summary="ok", confirmed=True)
    secret = make_incident(by=manager, title="Card data exposed", service=services["checkout"], restricted=True)
    return {"cards": cards, "slow": slow, "banner": banner, "fixed": fixed, "secret": secret}


def refs(body: str) -> list[str]:
    import re

    return re.findall(r'aria-label="Follow (INC-\d+) instead"', body)


def test_the_form_lists_what_is_open_now_with_a_follow_button(clients, open_incidents):
    body = clients["reporter"].get("/incidents/new/?type=downtime").content.decode()
    assert "Open incidents now: is yours one of them? Follow it instead" in body
    shown = refs(body)
    assert set(shown) == {open_incidents[name].ref for name in ("cards", "slow", "banner")}
    cards = open_incidents["cards"].ref
    assert f'formaction="/incidents/{cards}/follow/" formnovalidate' in body


def test_typing_a_title_ranks_the_incidents_sharing_its_words(clients, open_incidents, services):
    client = clients["reporter"]
    body = client.get(MATCHES, {"title": "Card payments are failing", "service": ""}).content.decode()
    assert "Is it one of these? Follow it instead" in body
    assert refs(body) == [open_incidents["cards"].ref]  # not the resolved one, not the restricted one
    with_service = client.get(MATCHES, {"title": "Card payments are failing", "service": services["checkout"].pk})
    # The same service brings the typo banner in, after the incident that shares the words.
    assert refs(with_service.content.decode()) == [open_incidents["cards"].ref, open_incidents["banner"].ref]
    nothing = client.get(MATCHES, {"title": "Printer on fire", "service": ""}).content.decode()
    assert refs(nothing) == [] and "Follow it instead" not in nothing


def test_someone_who_may_see_the_restricted_one_is_offered_it(clients, open_incidents):
    body = clients["manager"].get(MATCHES, {"title": "Card data exposed"}).content.decode()
    assert open_incidents["secret"].ref in refs(body)


@pytest.mark.parametrize("service", ["abc", "-1", "999999999999999999999", "1.5"])
def test_a_bad_service_is_ignored_and_a_long_title_cut(clients, open_incidents, service):
    response = clients["reporter"].get(MATCHES, {"title": "Card payments " + "x" * 5000, "service": service})
    assert response.status_code == 200
    assert refs(response.content.decode()) == [open_incidents["cards"].ref]


def test_follow_instead_follows_and_reports_nothing(clients, open_incidents, reporter):
    cards = open_incidents["cards"]
    form = {"type": "downtime", "title": "Card payments are failing", "description": "", "severity": "critical"}
    response = clients["reporter"].post(f"/incidents/{cards.ref}/follow/", form, follow=True)
    assert response.redirect_chain == [(f"/incidents/{cards.ref}/", 302)]
    assert f"You follow {cards.ref}" in response.content.decode()
    assert Subscription.objects.filter(user=reporter, incident=cards).exists()
    assert Incident.objects.count() == 5


def test_a_refused_report_shows_the_matches_for_what_was_typed(clients, open_incidents, services):
    response = clients["reporter"].post(
        "/incidents/new/",
        {"type": "downtime", "title": "Card payments are failing", "service": services["checkout"].pk},
    )
    assert response.status_code == 422
    assert refs(response.content.decode())[0] == open_incidents["cards"].ref


def test_the_suggestions_cost_the_same_queries_whatever_is_open(
    clients, open_incidents, services, responder, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = clients["reporter"]
    client.get(MATCHES, {"title": "Card payments"})
    with CaptureQueriesContext(connection) as few:
        client.get(MATCHES, {"title": "Card payments"})
    for n in range(30):
        make_incident(by=responder, title=f"Card payments fail {n}", service=services["checkout"])
    with django_assert_max_num_queries(len(few)):
        body = client.get(MATCHES, {"title": "Card payments"}).content.decode()
    assert len(refs(body)) == 5
