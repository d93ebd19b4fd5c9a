"""A page reaches the paged person at once: an email, and Slack with their member id when set."""

import datetime as dt

import time_machine

from incidents.models import Notification, Profile, TimelineEntry
from incidents.oncall import paging
from incidents.oncall.tests.data import make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)  # other_responder is on call (see test_oncall_assignment)


def test_the_on_call_engineer_gets_an_email_and_a_slack_mention(settings, reporter, responder, other_responder):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"
    Profile.objects.update_or_create(user=other_responder, defaults={"slack_member_id": "U024BE7LH"})
    checkout = ServiceFactory(name="Checkout")
    make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=checkout, severity="critical")
    page = incident.timeline.get(kind=TimelineEntry.Kind.PAGE)
    email = Notification.objects.get(event_key=f"entry:{page.pk}", channel="email")
    assert email.recipient == other_responder.email
    assert "You are paged" in email.subject and incident.ref in email.subject
    assert incident.title in email.body_text
    assert "Unsubscribe from all Beacon email: http" in email.body_text
    slack = Notification.objects.get(event_key=f"entry:{page.pk}", channel="slack")
    assert slack.body_text.startswith("<@U024BE7LH> you are paged")


def test_an_escalation_emails_the_next_person(reporter, responder, other_responder):
    checkout = ServiceFactory(name="Checkout")
    make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=checkout, severity="critical")
    paging.escalation_step(incident.pk, 1, at=NOON + dt.timedelta(minutes=5))
    escalation = incident.timeline.get(kind=TimelineEntry.Kind.ESCALATION)
    email = Notification.objects.get(event_key=f"entry:{escalation.pk}")
    assert email.recipient == responder.email
    assert "Escalation 1" in email.body_text
    assert not Notification.objects.filter(event_key=f"entry:{escalation.pk}", channel="slack").exists()


def test_a_page_for_a_restricted_incident_says_on_slack_only_that_one_was_opened(
    settings, reporter, responder, other_responder
):
    from incidents.models import IncidentType

    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"
    Profile.objects.update_or_create(user=other_responder, defaults={"slack_member_id": "U024BE7LH"})
    checkout = ServiceFactory(name="Checkout")
    make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(
            by=reporter,
            service=checkout,
            severity="critical",
            title="SECRET-TITLE",
            type=IncidentType.objects.get(slug="security"),
        )
    page = incident.timeline.get(kind=TimelineEntry.Kind.PAGE)
    slack = Notification.objects.get(event_key=f"entry:{page.pk}", channel="slack")
    assert slack.body_text.startswith("<@U024BE7LH> you are paged: ")
    assert "SECRET" not in slack.body_text and incident.ref in slack.body_text
