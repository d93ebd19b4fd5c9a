"""Before posting a status update, the form says who will hear it: counts that must equal the
outbox rows the update then writes (incidents/notifications/outbox.py update_audience)."""

import pytest
from django.contrib.auth.models import Group

from conftest import make_user
from incidents import roles, workflow
from incidents.models import Notification, Profile, StatusSubscriber, Subscription
from incidents.notifications.outbox import update_audience
from incidents.tests.factories import ServiceFactory, make_incident

SLACK = "http://127.0.0.1:9/slack"


@pytest.fixture
def incident(reporter, responder):
    service = ServiceFactory(name="Checkout", is_public=True, slack_webhook_url=SLACK + "/service")
    incident = make_incident(by=reporter, service=service, public=True)
    workflow.acknowledge(incident, by=responder)  # rob leads it
    incident.refresh_from_db()
    return incident


@pytest.fixture
def audience(incident, viewer):
    """Two team followers (one of the incident, one of its service), one follower with email off,
    two outside stakeholders."""
    Subscription.objects.create(user=make_user("fay", roles.VIEWER), incident=incident)
    Subscription.objects.create(user=viewer, service=incident.service)
    quiet = make_user("quin", roles.VIEWER)
    Profile.objects.create(user=quiet, email_notifications=False)
    Subscription.objects.create(user=quiet, incident=incident)
    Subscription.objects.create(email="cto@partner.example", service=incident.service)
    Subscription.objects.create(email="ops@partner.example", service=incident.service)


def written(incident) -> dict:
    """What the newest timeline entry wrote: email rows by audience, Slack rows."""
    entry = incident.timeline.order_by("-pk").first()
    rows = Notification.objects.filter(event_key=f"entry:{entry.pk}")
    return {
        "team": rows.filter(channel="email", audience="team").count(),
        "outside": rows.filter(channel="email", audience="public").count(),
        "slack": rows.exclude(channel="email").count(),
    }


def counted(preview) -> dict:
    return {"team": preview.team_emails, "outside": preview.outside_emails, "slack": preview.slack}


@pytest.mark.parametrize("public", [True, False])
def test_the_counts_equal_the_rows_the_update_writes(settings, incident, audience, other_responder, public):
    settings.SLACK_WEBHOOK_URL = SLACK
    preview = update_audience(incident, author=other_responder, public=public)
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=public)
    assert counted(preview) == written(incident)
    if public:
        # The lead, two followers (not the one with email off); both stakeholders; both webhooks.
        assert counted(preview) == {"team": 3, "outside": 2, "slack": 2}
        assert preview.status_page is True
    else:
        assert counted(preview) == {"team": 1, "outside": 0, "slack": 0}  # the lead only
        assert preview.status_page is False


def test_an_incident_off_the_status_page_reaches_no_outside_stakeholder(incident, audience, responder, other_responder):
    workflow.set_public(incident, by=responder, public=False)
    incident.refresh_from_db()
    preview = update_audience(incident, author=other_responder, public=True)
    workflow.post_update(incident, by=other_responder, message="Still on it.", public=True)
    assert counted(preview) == written(incident)
    assert (preview.outside_emails, preview.status_page) == (0, False)


def test_the_author_is_not_counted(incident, audience, responder):
    # rob leads: his own update reaches the two followers, not himself.
    preview = update_audience(incident, author=responder, public=True)
    workflow.post_update(incident, by=responder, message="Fixed the config.", public=True)
    assert counted(preview) == written(incident)
    assert preview.team_emails == 2


def test_a_restricted_incident_counts_only_who_may_see_it(settings, incident, audience, responder, manager):
    settings.SLACK_WEBHOOK_URL = SLACK
    workflow.set_public(incident, by=responder, public=False)
    workflow.restrict(incident, by=responder, reason="Looks like a breach.")
    incident.refresh_from_db()
    preview = update_audience(incident, author=manager, public=True)
    workflow.post_update(incident, by=manager, message="Contained.", public=True)
    assert counted(preview) == written(incident)
    # Only the lead may see it: followers without access, stakeholders and Slack hear nothing.
    assert counted(preview) == {"team": 1, "outside": 0, "slack": 0}
    assert preview.status_page is False


def test_the_page_shows_counts_never_addresses(clients, incident, audience):
    response = clients["responder"].get(f"/incidents/{incident.ref}/update/audience/")
    body = response.content.decode()
    assert response.status_code == 200
    # rob leads and is the one asking: his own update would not reach him.
    text = " ".join(body.split())
    assert (
        "the status page; 0 status page subscribers and 2 outside stakeholders by email; 2 team members by email;"
        in text
    )
    assert "An internal update</strong> reaches: 0 team members by email; 0 Slack destinations." in text
    assert "partner.example" not in body and "fay" not in body
    assert "<html" in body and f"Back to {incident.ref}" in body


def test_with_htmx_only_the_counts_come_back(clients, incident):
    response = clients["responder"].get(f"/incidents/{incident.ref}/update/audience/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'id="update-audience"' in body and "<html" not in body


def test_the_update_form_links_to_it(clients, incident):
    body = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert f'href="/incidents/{incident.ref}/update/audience/">Who will hear it?</a>' in body


def test_a_restricted_incident_is_not_found_for_those_outside_it(clients, incident, responder, other_responder):
    workflow.set_public(incident, by=responder, public=False)
    workflow.restrict(incident, by=responder, reason="Breach.")
    other = clients["responder"]  # rob leads, so he may see it
    assert other.get(f"/incidents/{incident.ref}/update/audience/").status_code == 200
    outsider = make_user("olga", roles.RESPONDER)
    from conftest import _client_for

    assert _client_for(outsider).get(f"/incidents/{incident.ref}/update/audience/").status_code == 404
    assert Group.objects.filter(name=roles.RESPONDER).exists()


def test_the_incidents_own_slack_channel_counts_beside_the_webhook(settings, incident, other_responder):
    # A High incident has a Slack channel of its own (SLACK_INCIDENT_CHANNELS) and its service a
    # webhook: one row each.
    settings.SLACK_BOT_TOKEN = "xoxb-test-only"
    settings.SLACK_INCIDENT_CHANNELS = True
    preview = update_audience(incident, author=other_responder, public=True)
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    assert counted(preview) == written(incident)
    assert preview.slack == 2


def test_stakeholders_and_status_page_subscribers_are_counted_apart(incident, audience, other_responder):
    # Two addresses on the stakeholder list (the audience), two who subscribed on the status page.
    for address in ("ann@example.com", "bob@example.com"):
        StatusSubscriber.objects.create(email=address)
    preview = update_audience(incident, author=other_responder, public=True)
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    assert (preview.outside_emails, preview.subscribers) == (2, 2)
    entry = incident.timeline.order_by("-pk").first()
    public = Notification.objects.filter(event_key=f"entry:{entry.pk}", channel="email", audience="public")
    assert public.filter(status_subscriber__isnull=True).count() == 2
    assert public.filter(status_subscriber__isnull=False).count() == 2
