"""Related incidents: linked from either page, read from each side, shown to who may see both,
removable; bad references refused with a clear message."""

import pytest
from django.core.exceptions import PermissionDenied

from conftest import _client_for, make_user
from incidents import roles, workflow
from incidents.models import Incident, IncidentLink, TimelineEntry
from incidents.tests.factories import make_incident
from reviews.tests.factories import make_review, resolved_incident


@pytest.fixture
def database(reporter):
    return make_incident(by=reporter, title="Database failover")


@pytest.fixture
def checkout(reporter):
    return make_incident(by=reporter, title="Checkout returns 500")


def link(client, incident, other: str, kind="caused_by"):
    return client.post(f"/incidents/{incident.ref}/links/", {"kind": kind, "other": other}, follow=True)


def panel(client, incident) -> str:
    body = client.get(f"/incidents/{incident.ref}/").content.decode()
    start = body.index('id="links-panel"')
    return " ".join(body[start : body.index("</section>", start)].split())


def test_a_link_reads_from_either_side_and_is_on_both_timelines(clients, checkout, database):
    response = link(clients["responder"], checkout, "inc-" + str(database.pk))
    assert f"{checkout.ref}: caused by {database.ref}." in response.content.decode()
    assert f'Caused by <a href="/incidents/{database.ref}/">{database.ref}</a> Database failover' in panel(
        clients["viewer"], checkout
    )
    assert f'Caused <a href="/incidents/{checkout.ref}/">{checkout.ref}</a> Checkout returns 500' in panel(
        clients["viewer"], database
    )
    assert checkout.timeline.get(kind="link").text == f"Caused by {database.ref}."
    assert database.timeline.get(kind="link").text == f"Caused {checkout.ref}."


def test_removing_a_link(clients, checkout, database, responder):
    found = workflow.link(checkout, other=database, kind="same_cause", by=responder)
    response = clients["responder"].post(f"/incidents/{database.ref}/links/{found.pk}/remove/", follow=True)
    assert "Link removed." in response.content.decode()
    assert not IncidentLink.objects.exists()
    assert database.timeline.filter(kind="link").last().text == f"No longer linked: same root cause as {checkout.ref}."
    again = clients["responder"].post(f"/incidents/{database.ref}/links/{found.pk}/remove/", follow=True)
    assert f"{database.ref} has no such link." in again.content.decode()


@pytest.mark.parametrize(
    "other, kind, message",
    [
        ("yesterday", "caused_by", "Give an incident&#x27;s reference, like INC-42."),
        ("", "caused_by", "This field is required."),
        ("INC-999999", "caused_by", "There is no incident INC-999999."),
        ("{checkout}", "caused_by", "An incident cannot be linked to itself."),
        ("{database}", "married_to", "Select a valid choice. married_to is not one of the available choices."),
    ],
)
def test_bad_links_are_refused_with_a_clear_message(clients, checkout, database, other, kind, message):
    response = link(clients["responder"], checkout, other.format(checkout=checkout.ref, database=database.ref), kind)
    assert message in response.content.decode()
    assert not IncidentLink.objects.exists()


def test_a_pair_is_linked_once_whichever_side_asks(clients, checkout, database, responder):
    workflow.link(checkout, other=database, kind="related", by=responder)
    response = link(clients["responder"], database, checkout.ref, "caused_by")
    assert f"{database.ref} is already linked to {checkout.ref} (related to)." in response.content.decode()
    assert IncidentLink.objects.count() == 1


def test_a_restricted_incident_stays_need_to_know(clients, checkout, reporter, responder, manager):
    breach = make_incident(by=manager, title="Customer data exposed", restricted=True)
    # A responder outside the breach cannot link to it: it does not exist for them.
    response = link(clients["responder"], checkout, breach.ref)
    assert f"There is no incident {breach.ref}." in response.content.decode()
    workflow.link(checkout, other=breach, kind="caused_by", by=manager)
    assert breach.ref not in panel(clients["responder"], checkout)
    assert "Customer data exposed" not in panel(clients["responder"], checkout)
    assert checkout.timeline.get(kind="link").text == "Caused by a restricted incident."
    assert "Customer data exposed" in panel(clients["manager"], checkout)


def test_viewers_read_links_without_the_form(clients, checkout, database, responder):
    assert 'id="links-panel"' not in clients["viewer"].get(f"/incidents/{checkout.ref}/").content.decode()
    workflow.link(checkout, other=database, kind="related", by=responder)
    shown = panel(clients["viewer"], checkout)
    assert database.ref in shown and "<form" not in shown


def test_the_review_shows_them(clients, responder, reporter):
    incident = resolved_incident(by=reporter, responder=responder)
    other = make_incident(by=reporter, title="Payments provider outage")
    workflow.link(incident, other=other, kind="caused_by", by=responder)
    make_review(responder=responder, incident=incident)
    body = clients["viewer"].get(f"/reviews/{incident.ref}/").content.decode()
    assert f'Caused by <a href="/incidents/{other.ref}/">{other.ref}</a> Payments provider outage' in body


def test_the_page_does_as_many_queries_with_thirty_links_as_with_one(
    clients, checkout, responder, django_assert_max_num_queries
):
    client = clients["responder"]
    workflow.link(checkout, other=make_incident(by=responder, title="First"), kind="related", by=responder)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(f"/incidents/{checkout.ref}/")
    with CaptureQueriesContext(connection) as one:
        client.get(f"/incidents/{checkout.ref}/")
    for n in range(29):
        workflow.link(checkout, other=make_incident(by=responder, title=f"Other {n}"), kind="related", by=responder)
    with django_assert_max_num_queries(len(one)):
        body = client.get(f"/incidents/{checkout.ref}/").content.decode()
    assert body.count('aria-label="Remove the link to') == 30


def test_a_responder_who_can_see_both_links_from_the_other_side(checkout, database):
    other = make_user("otto", roles.RESPONDER)
    response = link(_client_for(other), database, checkout.ref, "same_cause")
    assert f"{database.ref}: same root cause as {checkout.ref}." in response.content.decode()


def test_only_those_who_respond_link_or_unlink_even_through_the_workflow(
    checkout, database, responder, reporter, viewer
):
    found = workflow.link(checkout, other=database, kind="related", by=responder)
    for who in (reporter, viewer):
        with pytest.raises(PermissionDenied):
            workflow.link(database, other=make_incident(by=responder, title="Search is slow"), kind="related", by=who)
        with pytest.raises(PermissionDenied):
            workflow.unlink(checkout, link_id=found.pk, by=who)
    assert list(IncidentLink.objects.values_list("pk", flat=True)) == [found.pk]
    assert TimelineEntry.objects.filter(kind="link").count() == 2


def test_the_workflow_refuses_a_kind_of_link_it_does_not_know(checkout, database, responder):
    with pytest.raises(workflow.InvalidTransition, match="^Choose how the incidents are related.$"):
        workflow.link(checkout, other=database, kind="married_to", by=responder)
    assert not IncidentLink.objects.exists()


def test_an_incident_is_not_linked_to_itself_whatever_its_id(checkout, responder):
    # An id past CPython's cached small ints: the incident read twice holds two equal int objects.
    checkout.pk = 100001
    checkout.save(force_insert=True)
    same = Incident.objects.get(pk=100001)
    with pytest.raises(workflow.InvalidTransition, match="^An incident cannot be linked to itself.$"):
        workflow.link(Incident.objects.get(pk=100001), other=same, kind="related", by=responder)
    assert not IncidentLink.objects.exists()


def test_two_restricted_incidents_name_each_other_on_their_timelines(manager):
    breach = make_incident(by=manager, title="Customer data exposed", restricted=True)
    leak = make_incident(by=manager, title="Backup bucket left open", restricted=True)
    workflow.link(breach, other=leak, kind="caused_by", by=manager)
    assert breach.timeline.get(kind="link").text == f"Caused by {leak.ref}."
    assert leak.timeline.get(kind="link").text == f"Caused {breach.ref}."


def test_a_restricted_incident_names_the_unrestricted_one_it_is_linked_to(checkout, manager):
    breach = make_incident(by=manager, title="Customer data exposed", restricted=True)
    found = workflow.link(checkout, other=breach, kind="caused_by", by=manager)
    assert breach.timeline.get(kind="link").text == f"Caused {checkout.ref}."
    workflow.unlink(breach, link_id=found.pk, by=manager)
    assert breach.timeline.filter(kind="link").last().text == f"No longer linked: caused {checkout.ref}."
    assert checkout.timeline.filter(kind="link").last().text == "No longer linked: caused by a restricted incident."
