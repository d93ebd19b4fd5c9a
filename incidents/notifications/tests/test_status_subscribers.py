"""Email updates from the public status page, for people without an account: double opt-in by a
signed link, public updates only, one-click unsubscribe, rate limits, addresses never shown."""

import dataclasses
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.db.models.signals import m2m_changed
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Notification, PublicRequest, StatusSubscriber
from incidents.notifications import subscribers
from incidents.notifications.outbox import update_audience
from incidents.notifications.unsubscribe import unsubscribe_url
from incidents.tests.factories import ServiceFactory, make_incident

URL = "/status/subscribe/"


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout", is_public=True)


@pytest.fixture
def search(db):
    return ServiceFactory(name="Search", is_public=True)


@pytest.fixture
def incident(checkout, reporter, responder):
    incident = make_incident(by=reporter, service=checkout, public=True)
    workflow.acknowledge(incident, by=responder)
    incident.refresh_from_db()
    return incident


def confirmation_link(address: str) -> str:
    row = Notification.objects.filter(recipient=address, event_key__startswith="status-confirm:").latest("pk")
    return re.search(r"http://\S+/status/subscribe/confirm/\S+/", row.body_text).group(0)


def subscribe(client, address: str, *services) -> str:
    response = client.post(URL, {"email": address, "services": [s.pk for s in services]})
    assert response.status_code == 302 and response["Location"] == "/status/subscribe/sent/"
    link = confirmation_link(address.lower())
    return link[link.index("/status/") :]


def emails_to(address: str):
    return Notification.objects.filter(recipient=address, channel="email").exclude(event_key__startswith="status-")


def test_the_status_page_offers_it_and_the_form_lists_public_services_only(client, checkout):
    ServiceFactory(name="Billing backend", is_public=False)
    assert 'href="/status/subscribe/">Get email updates</a>' in client.get("/status/").content.decode()
    body = client.get(URL).content.decode()
    assert "Checkout" in body and "Billing backend" not in body


def test_double_opt_in_stores_nothing_until_the_link_is_confirmed(client, checkout):
    path = subscribe(client, "Ann@Example.com")
    row = Notification.objects.get(event_key__startswith="status-confirm:")
    assert (row.recipient, row.audience, row.incident_id) == ("ann@example.com", "public", None)
    assert row.subject == "Confirm your email updates about our service status"
    assert not StatusSubscriber.objects.exists()
    page = client.get(path)
    assert page.status_code == 200 and "ann@example.com" in page.content.decode()
    assert not StatusSubscriber.objects.exists()  # opening the link (a mail scanner) does nothing
    done = client.post(path)
    assert "ann@example.com will get email updates about every service." in done.content.decode()
    subscriber = StatusSubscriber.objects.get()
    assert (subscriber.email, subscriber.all_services) == ("ann@example.com", True)


def test_a_subscriber_hears_public_updates_only_of_incidents_on_the_status_page(client, incident, other_responder):
    client.post(subscribe(client, "ann@example.com"))
    workflow.add_note(incident, by=other_responder, text="Internal: the DBA dropped a table.")
    workflow.post_update(incident, by=other_responder, message="Internal detail.", public=False)
    assert not emails_to("ann@example.com").exists()
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    (email,) = emails_to("ann@example.com")
    assert email.audience == "public" and email.reason == "subscription"
    assert "We are on it." in email.body_text
    assert "you asked for email updates on the status page" in email.body_text
    for secret in ("Internal", "DBA", other_responder.username, "Nobody can pay", incident.description):
        assert secret not in email.body_text and secret not in email.subject
    workflow.set_public(incident, by=other_responder, public=False)
    workflow.post_update(incident, by=other_responder, message="Off the page now.", public=True)
    assert emails_to("ann@example.com").count() == 1


def test_unconfirmed_addresses_get_nothing(client, incident, other_responder):
    client.post(URL, {"email": "bob@example.com"})
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    assert not emails_to("bob@example.com").exists()


def test_chosen_services_only(client, incident, search, other_responder):
    client.post(subscribe(client, "ann@example.com", search))
    subscriber = StatusSubscriber.objects.get()
    assert not subscriber.all_services and list(subscriber.services.all()) == [search]
    workflow.post_update(incident, by=other_responder, message="Checkout news.", public=True)
    assert not emails_to("ann@example.com").exists()
    other = make_incident(by=other_responder, service=search, public=True)
    workflow.post_update(other, by=other_responder, message="Search news.", public=True)
    assert emails_to("ann@example.com").count() == 1


def test_a_restricted_incident_reaches_no_subscriber(client, incident, responder, manager):
    client.post(subscribe(client, "ann@example.com"))
    workflow.set_public(incident, by=responder, public=False)
    workflow.restrict(incident, by=responder, reason="Breach.")
    workflow.post_update(incident, by=manager, message="Contained.", public=True)
    assert not emails_to("ann@example.com").exists()


def test_one_click_unsubscribe_ends_it(client, incident, other_responder):
    client.post(subscribe(client, "ann@example.com"))
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    link = unsubscribe_url(emails_to("ann@example.com").get())
    answer = client.post(link[link.index("/unsubscribe/") :])
    assert "You will no longer receive email updates from the status page." in answer.content.decode()
    assert not StatusSubscriber.objects.exists()
    workflow.post_update(incident, by=other_responder, message="Fixed.", public=True)
    assert emails_to("ann@example.com").count() == 1


def test_asking_again_changes_nothing_until_the_new_link_is_confirmed(client, checkout, search):
    client.post(subscribe(client, "ann@example.com", search))
    second = subscribe(client, "ann@example.com")  # now someone asks for every service
    subscriber = StatusSubscriber.objects.get()
    assert not subscriber.all_services  # unchanged
    client.post(second)
    subscriber.refresh_from_db()
    assert subscriber.all_services and not subscriber.services.exists()


def test_bad_input_is_refused_with_a_clear_message_and_nothing_sent(client, checkout):
    private = ServiceFactory(name="Billing backend", is_public=False)
    for data, message in [
        ({"email": "not an address"}, "Enter a valid email address."),
        ({"email": ""}, "This field is required."),
        ({"email": "a\x00b@example.com"}, "Null characters are not allowed."),
        ({"email": "x" * 250 + "@example.com"}, "at most 254 characters"),
        ({"email": "ann@example.com", "services": [private.pk]}, "Choose among the services listed."),
        ({"email": "ann@example.com", "services": ["abc"]}, "“abc” is not a valid value."),
    ]:
        response = client.post(URL, data)
        assert response.status_code == 422
        assert message in response.content.decode()
    assert not Notification.objects.exists() and not PublicRequest.objects.exists()


def test_a_changed_cut_or_old_link_subscribes_nobody(client, checkout):
    path = subscribe(client, "ann@example.com")
    for broken in [path[:-5] + "/", path.replace("/confirm/", "/confirm/x")]:
        response = client.post(broken)
        assert response.status_code == 400
        assert "It was changed or cut short" in response.content.decode()
    with time_machine.travel(now() + timedelta(hours=49)):
        response = client.post(path)
    assert response.status_code == 400 and "It is too old" in response.content.decode()
    assert not StatusSubscriber.objects.exists()


def test_rate_limits_per_address_and_per_client(client, settings, checkout):
    settings.STATUS_SUBSCRIBE_PER_ADDRESS = 2
    settings.STATUS_SUBSCRIBE_PER_IP = 4
    for _ in range(3):
        assert client.post(URL, {"email": "ann@example.com"}).status_code == 302
    # The third ask for one address gets the same answer, and no mail.
    assert Notification.objects.filter(recipient="ann@example.com").count() == 2
    assert client.post(URL, {"email": "bob@example.com"}).status_code == 302
    refused = client.post(URL, {"email": "cy@example.com"})
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert "try again in 60 minutes" in refused.content.decode()
    assert not Notification.objects.filter(recipient="cy@example.com").exists()
    other_client = client.post(URL, {"email": "cy@example.com"}, REMOTE_ADDR="10.1.2.3")
    assert other_client.status_code == 302


def test_addresses_are_never_shown(client, incident, other_responder):
    client.post(subscribe(client, "ann@example.com"))
    assert "ann@example.com" not in client.get("/status/subscribe/sent/").content.decode()
    assert "ann@example.com" not in client.get("/status/").content.decode()
    assert "ann@example.com" not in client.get(f"/status/incidents/{incident.ref}/").content.decode()


def test_the_update_form_counts_subscribers_as_the_outbox_writes_them(client, incident, other_responder):
    client.post(subscribe(client, "ann@example.com"))
    client.post(subscribe(client, "bob@example.com"))
    preview = update_audience(incident, author=other_responder, public=True)
    assert (preview.subscribers, preview.outside_emails) == (2, 0)
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    entry = incident.timeline.order_by("-pk").first()
    rows = Notification.objects.filter(event_key=f"entry:{entry.pk}", status_subscriber__isnull=False)
    assert rows.count() == preview.subscribers


def test_a_subscriber_to_every_service_who_also_chose_this_one_hears_once(incident, other_responder):
    # The admin lets a manager tick "every service" and leave a chosen service selected.
    subscriber = StatusSubscriber.objects.create(email="ann@example.com", all_services=True)
    subscriber.services.set([incident.service])
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    (email,) = emails_to("ann@example.com")
    assert (email.status_subscriber, email.reason) == (subscriber, "subscription")


def test_a_link_holds_for_exactly_its_hours(client, checkout):
    path = subscribe(client, "ann@example.com")  # STATUS_SUBSCRIBE_LINK_HOURS: 48
    with time_machine.travel(now() + timedelta(hours=48, seconds=20)):
        assert client.post(path).status_code == 400
    with time_machine.travel(now() + timedelta(hours=48, seconds=-20)):
        assert client.post(path).status_code == 200
    assert StatusSubscriber.objects.get().email == "ann@example.com"


@pytest.mark.parametrize(
    "payload",
    [
        ["ann@example.com", []],
        {"s": []},
        {"e": 5, "s": []},
        {"e": "ann@example.com"},
        {"e": "ann@example.com", "s": "1"},
        {"e": "ann@example.com", "s": [1, "2"]},
    ],
    ids=["not-a-dict", "no-address", "address-not-text", "no-services", "services-not-a-list", "service-not-an-id"],
)
def test_a_signed_link_of_the_wrong_shape_is_refused(payload):
    token = signing.TimestampSigner(salt=subscribers.CONFIRM_SALT).sign_object(payload)
    with pytest.raises(signing.BadSignature, match="^malformed$"):
        subscribers.read_confirmation(token)


def test_a_signed_link_reads_back_as_asked():
    token = subscribers.confirmation_token(subscribers.Request("ann@example.com", (3, 5)))
    asked = subscribers.read_confirmation(token)
    assert asked == subscribers.Request("ann@example.com", (3, 5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        asked.email = "mallory@example.com"  # what a link asked for is not changed on the way
    assert subscribers.Request("ann@example.com", (3,)).all_services is False
    assert subscribers.Request("ann@example.com", ()).all_services is True


def test_the_confirmation_names_the_chosen_services_and_the_hours(client, checkout, search):
    ServiceFactory(name="Billing backend", is_public=False)
    subscribe(client, "ann@example.com", search, checkout)
    row = Notification.objects.get(event_key__startswith="status-confirm:")
    assert "asked for email updates about our service status (Checkout, Search)." in row.body_text
    assert "open this link within 48 hours" in row.body_text
    subscribe(client, "bob@example.com")
    every = Notification.objects.get(recipient="bob@example.com")
    assert "asked for email updates about our service status." in every.body_text


def test_services_taken_off_the_status_page_before_the_confirmation_are_left_out(client, checkout, search):
    both = subscribe(client, "ann@example.com", checkout, search)
    only_search = subscribe(client, "bob@example.com", search)
    search.is_public = False
    search.save()
    client.post(both)
    client.post(only_search)
    ann = StatusSubscriber.objects.get(email="ann@example.com")
    assert (ann.all_services, list(ann.services.all())) == (False, [checkout])
    bob = StatusSubscriber.objects.get(email="bob@example.com")
    assert (bob.all_services, list(bob.services.all())) == (True, [])


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_confirmation_that_fails_halfway_changes_nothing(checkout, search):
    """Real commits: without its transaction, `confirm` would keep the subscriber row written
    before its services failed to save."""
    subscribers.confirm(subscribers.Request("ann@example.com", (search.pk,)))
    before = StatusSubscriber.objects.values("all_services", "confirmed_at").get()

    def boom(action, **kwargs):
        if action == "pre_clear" or action == "pre_remove":
            raise Boom

    m2m_changed.connect(boom, sender=StatusSubscriber.services.through)
    try:
        with pytest.raises(Boom):
            subscribers.confirm(subscribers.Request("ann@example.com", ()))
    finally:
        m2m_changed.disconnect(boom, sender=StatusSubscriber.services.through)
    assert StatusSubscriber.objects.values("all_services", "confirmed_at").get() == before
    assert list(StatusSubscriber.objects.get().services.all()) == [search]
