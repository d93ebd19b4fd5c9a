"""A new incident gets its service's on-call engineer as lead, who is paged at once (paging.assign_on_call)."""

import datetime as dt

import pytest
import time_machine

from incidents import workflow
from incidents.models import Incident, Notification, Profile, TimelineEntry
from incidents.oncall import paging
from incidents.oncall.tests.data import make_override, make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

Kind = TimelineEntry.Kind
# A Wednesday noon in London (GMT): the daily rotation's shift 9 since 5 January.
NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)

REPORT = {
    "title": "Checkout is down",
    "description": "500s",
    "impact": "Nobody can pay",
    "occurred_at": NOON - dt.timedelta(minutes=5),
    "severity": "medium",
}


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout")


@pytest.fixture
def rotation(checkout, responder, other_responder):
    # Shift n belongs to members[n % 2]: on 14 January (n = 9) that is other_responder.
    return make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])


def kinds(incident) -> list[str]:
    return list(incident.timeline.order_by("pk").values_list("kind", flat=True))


def pages_sent(incident) -> list[tuple[str, str, object]]:
    """(event key, channel, user) of every "you are paged" message queued about the incident
    (outbox.queue_page: an email to the person, a Slack mention of them)."""
    rows = Notification.objects.filter(incident=incident, reason__in=["direct", "paged"]).order_by("pk")
    return [(row.event_key, row.channel, row.user) for row in rows]


@time_machine.travel(NOON, tick=False)
def test_form_report_assigns_the_on_call_engineer_and_pages_them(clients, checkout, rotation, other_responder):
    response = clients["reporter"].post(
        "/incidents/new/",
        {
            **REPORT,
            "type": "downtime",
            "occurred_at": "2026-01-14 11:55",
            "service": checkout.pk,
            "description": "500s",
        },
    )
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert incident.lead == other_responder
    assert kinds(incident) == [Kind.REPORTED, Kind.LEAD_CHANGE, Kind.PAGE]
    lead_change, page = incident.timeline.order_by("pk")[1:]
    assert lead_change.author is None and lead_change.data["new_id"] == other_responder.pk
    assert page.author is None
    assert page.data == {
        "user_id": other_responder.pk,
        "step": 0,
        "reason": "on call for Checkout (Checkout primary)",
        "via": "web",  # it came from the web report
    }
    # The page entry, and only it, tells the on-call engineer: one email (no Slack id set).
    assert pages_sent(incident) == [(f"entry:{page.pk}", "email", other_responder)]


@time_machine.travel(NOON, tick=False)
def test_api_report_is_assigned_too_and_report_returns_the_lead(reporter, checkout, rotation, other_responder):
    incident = workflow.report(by=reporter, service=checkout, source="api", **REPORT)
    assert incident.lead == other_responder  # the returned object, without a reload
    assert Incident.objects.get(pk=incident.pk).lead == other_responder
    assert kinds(incident) == [Kind.REPORTED, Kind.LEAD_CHANGE, Kind.PAGE]


@time_machine.travel(NOON, tick=False)
def test_alertmanager_report_by_nobody_is_assigned(checkout, rotation, other_responder):
    incident = workflow.report(by=None, service=checkout, source="alertmanager", **REPORT)
    assert Incident.objects.get(pk=incident.pk).lead == other_responder
    assert incident.timeline.get(kind=Kind.PAGE).data["user_id"] == other_responder.pk


def test_the_next_day_the_other_member_is_assigned(reporter, checkout, rotation, responder):
    with time_machine.travel(NOON + dt.timedelta(days=1), tick=False):
        incident = make_incident(by=reporter, service=checkout)
    assert incident.lead == responder


def test_an_override_is_paged_instead_of_the_schedule(reporter, checkout, rotation, manager):
    make_override(rotation, manager, NOON - dt.timedelta(hours=1), NOON + dt.timedelta(hours=1))
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=checkout)
    assert incident.lead == manager


def test_without_a_service_rotation_the_default_rotation_answers(reporter, checkout, manager):
    make_rotation("Everything", members=[manager], default=True)
    make_rotation("Search", members=[], services=[ServiceFactory(name="Search")])
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=checkout)
    assert incident.lead == manager
    assert "Everything" in incident.timeline.get(kind=Kind.PAGE).text


def test_a_service_rotation_with_nobody_on_call_falls_back_to_the_default(reporter, checkout, manager):
    make_rotation("Empty", members=[], services=[checkout])
    make_rotation("Everything", members=[manager], default=True)
    with time_machine.travel(NOON, tick=False):
        assert make_incident(by=reporter, service=checkout).lead == manager


def test_nobody_on_call_means_no_lead_and_no_page(reporter, checkout):
    make_rotation("Later", members=[], services=[checkout])
    incident = make_incident(by=reporter, service=checkout)
    assert incident.lead is None
    assert kinds(incident) == [Kind.REPORTED]


def test_before_the_rotation_starts_nobody_is_assigned(reporter, checkout, rotation):
    with time_machine.travel(dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC), tick=False):
        assert make_incident(by=reporter, service=checkout).lead is None


def test_a_member_who_may_not_respond_is_not_made_lead(reporter, viewer, checkout):
    make_rotation("Odd", members=[viewer], services=[checkout])
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=checkout)
    assert incident.lead is None and kinds(incident) == [Kind.REPORTED]


def test_a_deactivated_user_is_recorded_as_paged_but_told_nothing(settings, reporter, checkout, other_responder):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"
    Profile.objects.create(user=other_responder, slack_member_id="U024BE7LH")
    incident = make_incident(by=reporter, service=checkout)  # no rotation: nobody paged yet
    other_responder.is_active = False
    other_responder.save()
    entry = paging.page(incident, other_responder, step=0, reason="on call")
    assert entry.data["user_id"] == other_responder.pk
    assert pages_sent(incident) == []


def test_slack_member_id_is_read_from_the_profile(responder):
    assert paging.slack_member_id(responder) == ""
    Profile.objects.create(user=responder, slack_member_id="U024BE7LH")
    responder.refresh_from_db()
    assert paging.slack_member_id(responder) == "U024BE7LH"
