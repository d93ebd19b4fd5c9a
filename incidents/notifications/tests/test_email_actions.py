"""Action links in emails (incidents/notifications/actions.py): the emails carry them, GET changes
nothing, POST acts once as the recipient with their permissions, and every refused link says why
and changes nothing."""

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import signing
from django.test import Client
from django.utils.timezone import now

from conftest import make_user
from incidents import roles, workflow
from incidents.models import EmailActionUse, Incident, Notification, Status, TimelineEntry
from incidents.notifications import actions
from incidents.oncall import paging
from incidents.oncall.tests.data import make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)  # other_responder is on call (test_paging_notifications)
LINK = re.compile(r"^(Acknowledge|Take the lead|Open): (\S+)$", re.M)


def links_in(body: str) -> dict[str, str]:
    return dict(LINK.findall(body))


def path_of(url: str) -> str:
    return url.split("127.0.0.1:8000", 1)[1]


@pytest.fixture
def incident(reporter):
    return make_incident(by=reporter, severity="critical")


def entries(incident) -> int:
    return TimelineEntry.objects.filter(incident=incident).count()


# --- the emails carry the links ----------------------------------------------------------


def test_page_and_escalation_emails_carry_acknowledge_take_and_open(reporter, responder, other_responder):
    checkout = ServiceFactory(name="Checkout")
    make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])
    with time_machine.travel(NOON, tick=False):
        incident = make_incident(by=reporter, service=checkout, severity="critical")
    page = incident.timeline.get(kind=TimelineEntry.Kind.PAGE)
    page_email = Notification.objects.get(event_key=f"entry:{page.pk}", channel="email")
    links = links_in(page_email.body_text)
    # The paged engineer already leads it: Acknowledge and Open, no "take" of their own incident.
    assert set(links) == {"Acknowledge", "Open"}
    assert links["Open"] == f"http://127.0.0.1:8000/incidents/{incident.ref}/"
    assert links["Acknowledge"].startswith("http://127.0.0.1:8000/email-actions/")

    with time_machine.travel(NOON + dt.timedelta(minutes=5), tick=False):
        paging.escalation_step(incident.pk, 1, at=now())
        escalation = incident.timeline.get(kind=TimelineEntry.Kind.ESCALATION)
        email = Notification.objects.get(event_key=f"entry:{escalation.pk}", channel="email")
        assert email.recipient == responder.email
        links = links_in(email.body_text)
        assert set(links) == {"Acknowledge", "Take the lead", "Open"}
        # The link in the queued email works: it takes the lead for the escalated person.
        client = Client()
        response = client.post(path_of(links["Take the lead"]))
        assert response.status_code == 200, response.content
    incident.refresh_from_db()
    assert incident.lead == responder


def test_the_lead_email_carries_the_links_in_both_parts(reporter, responder, incident):
    workflow.set_lead(incident, by=None, lead=responder)
    entry = incident.timeline.get(kind=TimelineEntry.Kind.LEAD_CHANGE)
    email = Notification.objects.get(event_key=f"entry:{entry.pk}", channel="email", recipient=responder.email)
    links = links_in(email.body_text)
    assert set(links) == {"Acknowledge", "Open"}
    assert links["Acknowledge"] in email.body_html
    assert "work once, for 60 minutes, without a password" in email.body_text


def test_followers_and_outside_stakeholders_get_no_action_links(reporter, responder, other_responder, incident):
    from incidents.models import Subscription

    Subscription.objects.create(user=other_responder, incident=incident)
    workflow.acknowledge(incident, by=responder)
    workflow.post_update(incident, by=responder, message="Looking.", public=True)
    email = Notification.objects.get(channel="email", recipient=other_responder.email)
    assert "email-actions" not in email.body_text and "email-actions" not in email.body_html


def test_an_acknowledged_incident_offers_no_acknowledge_link(reporter, responder, other_responder, incident):
    workflow.acknowledge(incident, by=responder)
    workflow.set_lead(incident, by=responder, lead=other_responder)
    entry = incident.timeline.get(kind=TimelineEntry.Kind.LEAD_CHANGE)
    email = Notification.objects.get(event_key=f"entry:{entry.pk}", channel="email", recipient=other_responder.email)
    # The new lead: nothing to acknowledge any more, nothing to take.
    assert set(links_in(email.body_text)) == {"Open"}


def test_a_task_given_after_the_resolution_offers_only_open(reporter, responder, other_responder, incident):
    workflow.acknowledge(incident, by=responder)
    workflow.resolve(incident, by=responder, summary="Rolled back.", confirmed=True)
    task = workflow.add_task(incident, by=responder, title="Write the review")
    workflow.assign_task(incident, by=responder, task=task, user=other_responder)
    email = Notification.objects.get(channel="email", recipient=other_responder.email)
    assert "Write the review" in email.body_text
    # Not the lead, but a resolved incident is no one's to take or acknowledge.
    assert set(links_in(email.body_text)) == {"Open"}


def test_take_the_lead_is_offered_to_everyone_but_the_lead_whatever_their_ids(reporter, responder, incident):
    late = make_user("lena", roles.RESPONDER, pk=100001)  # ids past CPython's cached small ints

    def labels_for(user):
        # Both read back from the database, as the outbox reads them.
        fresh_user = get_user_model().objects.get(pk=user.pk)
        return [label for label, _ in actions.links_for(fresh_user, Incident.objects.get(pk=incident.pk))]

    assert labels_for(late) == ["Acknowledge", "Take the lead", "Open"]  # nobody leads it
    workflow.set_lead(incident, by=None, lead=responder)  # a lead with a smaller id
    assert labels_for(late) == ["Acknowledge", "Take the lead", "Open"]
    assert labels_for(responder) == ["Acknowledge", "Open"]
    workflow.set_lead(incident, by=None, lead=late)  # a lead with a larger id
    assert labels_for(late) == ["Acknowledge", "Open"]
    assert labels_for(responder) == ["Acknowledge", "Take the lead", "Open"]


# --- GET asks, POST acts, once -----------------------------------------------------------


def test_get_shows_one_button_and_changes_nothing(responder, incident):
    url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    before = entries(incident)
    for _ in range(3):  # a mail scanner, a preview, the person
        response = Client().get(url)
        assert response.status_code == 200
    html = response.content.decode()
    assert html.count('type="submit"') == 1 and f"Acknowledge {incident.ref}" in html
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED and entries(incident) == before
    assert not EmailActionUse.objects.exists()


def test_the_pages_run_a_bounded_number_of_queries(responder, incident, django_assert_max_num_queries):
    url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    client = Client()
    with django_assert_max_num_queries(6):
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(20):  # the action and its outbox rows, as on the web
        assert client.post(url).status_code == 200


def test_post_acknowledges_as_the_recipient_once(responder, incident):
    url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    client = Client()
    response = client.post(url)
    assert response.status_code == 200
    assert f"{incident.ref} is acknowledged." in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED and incident.lead == responder
    entry = incident.timeline.get(kind=TimelineEntry.Kind.STATUS_CHANGE)
    assert entry.author == responder and entry.data["via"] == "email"
    # Used: a second POST (and a GET) say so and change nothing.
    for method in ("post", "get"):
        again = getattr(client, method)(url)
        assert again.status_code == 410
        assert "already used" in again.content.decode()
        assert "Sign in to Beacon" in again.content.decode()
    assert incident.timeline.filter(kind=TimelineEntry.Kind.STATUS_CHANGE).count() == 1
    assert EmailActionUse.objects.count() == 1


def test_the_timeline_says_it_came_from_the_email_link(clients, responder, incident):
    Client().post(path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE)))
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert 'data-via="email">from the email link<' in page


def test_two_clicks_at_the_same_moment_act_once(responder, incident):
    token = actions.make_token(responder, incident, actions.ACKNOWLEDGE)
    # Both requests read the link before either acts: neither sees it used yet.
    first, second = actions.read(token), actions.read(token)
    assert actions.perform(first) == f"{incident.ref} is acknowledged."
    with pytest.raises(actions.LinkRefused) as refused:
        actions.perform(second)
    assert refused.value.reason == "used" and "already used" in str(refused.value)
    assert incident.timeline.filter(kind=TimelineEntry.Kind.STATUS_CHANGE).count() == 1
    assert EmailActionUse.objects.count() == 1


def test_perform_refuses_a_user_who_may_not_act_and_spends_nothing(viewer, incident):
    # read() refuses such a link first; perform() keeps its own promise too: LinkRefused, nothing changed.
    link = actions.Link(user=viewer, incident=incident, action=actions.ACKNOWLEDGE, nonce="a-viewers-nonce")
    with pytest.raises(actions.LinkRefused) as refused:
        actions.perform(link)
    assert refused.value.reason == "forbidden" and refused.value.status == 403
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED and not EmailActionUse.objects.exists()


def test_a_refused_move_spends_nothing(responder, other_responder, incident):
    workflow.acknowledge(incident, by=other_responder)
    url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    response = Client().post(url)
    assert response.status_code == 409
    assert "already acknowledged" in response.content.decode()
    assert not EmailActionUse.objects.exists()


# --- refused links -------------------------------------------------------------------------


def test_an_expired_link_is_refused(settings, responder, incident):
    settings.EMAIL_ACTION_LINK_MINUTES = 60
    start = now()
    with time_machine.travel(start, tick=False):
        url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    with time_machine.travel(start + dt.timedelta(minutes=59), tick=False):
        assert Client().get(url).status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=61), tick=False):
        for method in ("get", "post"):
            response = getattr(Client(), method)(url)
            assert response.status_code == 410
            assert "expired" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED


def test_a_link_works_up_to_its_last_second(settings, responder, incident):
    settings.EMAIL_ACTION_LINK_MINUTES = 60
    start = now().replace(microsecond=0)  # the signature's timestamp counts whole seconds
    with time_machine.travel(start, tick=False):
        url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    with time_machine.travel(start + dt.timedelta(minutes=60), tick=False):
        assert Client().get(url).status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=60, seconds=1), tick=False):
        assert Client().post(url).status_code == 410
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED


def test_the_expiry_is_a_setting(settings, responder, incident):
    settings.EMAIL_ACTION_LINK_MINUTES = 5
    start = now()
    with time_machine.travel(start, tick=False):
        url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    with time_machine.travel(start + dt.timedelta(minutes=6), tick=False):
        assert Client().post(url).status_code == 410


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the signature
        lambda t: "x" + t[1:],  # the payload
        lambda t: t.split(":")[0],  # cut short
        lambda t: "not-a-token",
    ],
)
def test_a_tampered_link_is_refused(responder, incident, tamper):
    token = actions.make_token(responder, incident, actions.ACKNOWLEDGE)
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/email-actions/{tamper(token)}/")
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
        assert "Sign in to Beacon" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED and not EmailActionUse.objects.exists()


def test_a_link_signed_for_another_purpose_is_refused(responder, incident):
    # Same shape, signed with the unsubscribe salt: the salt binds a token to its purpose.
    token = signing.TimestampSigner(salt="beacon.notifications.unsubscribe").sign_object(
        {"u": responder.pk, "i": incident.pk, "a": "acknowledge", "n": "x"}
    )
    assert Client().post(f"/email-actions/{token}/").status_code == 400


@pytest.mark.parametrize(
    "changes",
    [
        {"u": "1"},  # a user id that is not a number
        {"i": "INC-1"},  # an incident id that is not a number
        {"a": "close"},  # an action links do not do
        {"n": None},  # no nonce
        {"n": 7},  # a nonce that is not a string
    ],
    ids=["user", "incident", "action", "no-nonce", "nonce"],
)
def test_a_link_signed_by_beacon_but_not_of_its_shape_is_refused(responder, incident, changes):
    # Signed with Beacon's key and salt (an older or future format, say): the shape is checked too.
    payload = {"u": responder.pk, "i": incident.pk, "a": "acknowledge", "n": "a-nonce", **changes}
    payload = {key: value for key, value in payload.items() if value is not None}
    token = signing.TimestampSigner(salt=actions.SALT).sign_object(payload, compress=True)
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/email-actions/{token}/")
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED and not EmailActionUse.objects.exists()


def test_a_link_cannot_be_rebound_to_another_incident(responder, reporter, incident):
    other = make_incident(by=reporter, title="Search is slow")
    token = actions.make_token(responder, incident, actions.ACKNOWLEDGE)
    # The other incident's payload with this link's timestamp and signature.
    forged_payload = signing.TimestampSigner(salt="wrong").sign_object(
        {"u": responder.pk, "i": other.pk, "a": "acknowledge", "n": "x"}, compress=True
    )
    forged = forged_payload.split(":")[0] + ":" + token.split(":", 1)[1]
    assert Client().post(f"/email-actions/{forged}/").status_code == 400
    assert Incident.objects.get(pk=other.pk).status == Status.REPORTED
    assert Incident.objects.get(pk=incident.pk).status == Status.REPORTED


def test_a_deactivated_users_link_is_refused(responder, incident):
    url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    responder.is_active = False
    responder.save()
    for method in ("get", "post"):
        response = getattr(Client(), method)(url)
        assert response.status_code == 403
        assert "no longer active" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED


def test_a_link_to_an_incident_restricted_since_the_email_reads_as_missing(responder, other_responder, incident):
    url = path_of(actions.action_url(other_responder, incident, actions.TAKE))
    workflow.restrict(incident, by=responder, reason="A security matter.")
    for method in ("get", "post"):
        response = getattr(Client(), method)(url)
        assert response.status_code == 400
        page = response.content.decode()
        assert "no longer exists" in page
        assert incident.ref not in page and incident.title not in page
    incident.refresh_from_db()
    assert incident.lead is None and not EmailActionUse.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "reporter"])
def test_the_recipients_own_permissions_apply(request, role, incident):
    user = request.getfixturevalue(role)
    url = path_of(actions.action_url(user, incident, actions.ACKNOWLEDGE))
    for method in ("get", "post"):
        response = getattr(Client(), method)(url)
        assert response.status_code == 403
        assert "Your role does not allow you to acknowledge" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED and incident.lead is None
    assert not EmailActionUse.objects.exists()


def test_a_permission_removed_after_the_email_is_honoured(responder, incident):
    url = path_of(actions.action_url(responder, incident, actions.ACKNOWLEDGE))
    responder.groups.clear()
    assert Client().post(url).status_code == 403
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED


def test_the_confirmation_page_fits_a_phone_and_needs_no_script(responder, incident):
    html = Client().get(path_of(actions.action_url(responder, incident, actions.TAKE))).content.decode()
    # A plain form (no JavaScript needed) whose one button is a large, full-width tap target.
    assert '<form method="post">' in html
    assert 'class="btn btn-primary btn-lg w-100" type="submit">Take the lead' in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
