"""What an email says and carries: subject, parts, links, threading, unsubscribe, and
nothing internal for outside stakeholders."""

import email
import email.policy

import pytest

from incidents import workflow
from incidents.models import Notification, Subscription
from incidents.notifications import delivery
from incidents.tests.factories import make_incident

SECRET_WORDS = ["SECRET-NOTE", "SECRET-LOG", "SECRET-DESCRIPTION", "SECRET-SUMMARY", "SECRET-INTERNAL", "Rob", "Rita"]


@pytest.fixture
def incident(reporter, responder):
    incident = make_incident(
        by=reporter,
        severity="critical",
        description="SECRET-DESCRIPTION of the fault",
        logs="Traceback SECRET-LOG",
        impact="SECRET-IMPACT for users",
    )
    workflow.acknowledge(incident, by=responder)
    return incident


def deliver_all():
    for pk in Notification.objects.filter(state="pending").values_list("pk", flat=True):
        assert delivery.deliver(pk) == "sent"


def test_it_sends_a_threaded_two_part_email(settings, incident, other_responder, mailoutbox):
    settings.SITE_URL = "https://beacon.example.com"
    workflow.post_update(incident, by=other_responder, message="Rolling back the deploy.", public=False)
    deliver_all()
    [message] = mailoutbox
    row = Notification.objects.get()
    assert message.subject == f"[{incident.ref}][Critical] Checkout is down — Internal update"
    assert message.to == ["rob@example.com"]
    # The id names the incident, so a reply finds it (incidents/mailin/); the uuid keeps it unique.
    assert message.extra_headers["Message-ID"] == f"<incident-{incident.pk}.{row.uuid}@beacon.example.com>"
    assert message.extra_headers["X-Beacon"] == "notification"
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert "Reply-To" not in message.extra_headers  # no intake address configured
    assert message.extra_headers["In-Reply-To"] == f"<incident-{incident.pk}@beacon.example.com>"
    assert message.extra_headers["References"] == message.extra_headers["In-Reply-To"]
    assert message.extra_headers["List-Unsubscribe"].startswith("<https://beacon.example.com/unsubscribe/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Rolling back the deploy." in message.body
    assert f"https://beacon.example.com/incidents/{incident.ref}/" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and "Rolling back the deploy." in html
    # The message as it goes on the wire keeps the deterministic id.
    # (A long id is folded onto the next line, which RFC 5322 allows: read it back as a client would.)
    wire = email.message_from_string(message.message().as_string(), policy=email.policy.default)
    assert wire["Message-ID"].strip() == f"<incident-{incident.pk}.{row.uuid}@beacon.example.com>"


def test_newlines_in_a_title_do_not_reach_the_subject(reporter, responder, mailoutbox):
    incident = make_incident(by=reporter, title="Broken\r\nBcc: victim@example.com")
    workflow.acknowledge(incident, by=responder)
    workflow.add_note(incident, by=reporter, text="x")
    deliver_all()
    assert "\n" not in mailoutbox[0].subject and "\r" not in mailoutbox[0].subject
    assert "Broken Bcc: victim@example.com" in mailoutbox[0].subject


def test_no_internal_text_reaches_an_outside_stakeholder(settings, incident, responder, other_responder, mailoutbox):
    """Notes, logs, description, internal updates, resolution summary and names stay inside."""
    settings.SITE_URL = "https://beacon.example.com"
    Subscription.objects.create(email="partner@outside.example", service=incident.service)
    workflow.set_public(incident, by=responder, public=True)
    workflow.add_note(incident, by=other_responder, text="SECRET-NOTE db password is hunter2")
    workflow.post_update(incident, by=other_responder, message="SECRET-INTERNAL we broke it", public=False)
    workflow.post_update(incident, by=other_responder, message="Payments are failing; we are on it.", public=True)
    workflow.change_severity(incident, by=other_responder, severity="high", reason="SECRET-NOTE reason")
    workflow.change_severity(incident, by=other_responder, severity="critical", reason="SECRET-NOTE reason")
    workflow.resolve(incident, by=other_responder, summary="SECRET-SUMMARY: bad deploy by Rob", confirmed=True)
    deliver_all()
    outside = [m for m in mailoutbox if m.to == ["partner@outside.example"]]
    assert len(outside) == 3  # the public update, the raise to Critical, the resolution
    for message in outside:
        text = message.subject + message.body + message.alternatives[0][0] + str(message.extra_headers)
        for word in SECRET_WORDS + ["SECRET-IMPACT", "hunter2", "Responder", "Oncall"]:
            assert word not in text, (word, message.subject)
        assert f"/incidents/{incident.ref}" not in text  # outsiders cannot sign in: the status page link
        assert "https://beacon.example.com/status/" in text
    assert any("Payments are failing; we are on it." in m.body for m in outside)
    # The team's own copies do carry the internal text (the test above could not pass vacuously).
    assert any("SECRET-SUMMARY" in m.body for m in mailoutbox if m.to == ["rob@example.com"])


def test_each_recipient_gets_their_own_message(incident, other_responder, viewer, reporter, mailoutbox):
    Subscription.objects.create(user=viewer, incident=incident)
    Subscription.objects.create(user=reporter, incident=incident)
    workflow.post_update(incident, by=other_responder, message="Update.", public=True)
    deliver_all()
    assert sorted(m.to[0] for m in mailoutbox) == ["rita@example.com", "rob@example.com", "vic@example.com"]
    assert all(len(m.to) == 1 and not m.cc and not m.bcc for m in mailoutbox)
    assert len({m.extra_headers["Message-ID"] for m in mailoutbox}) == 3
