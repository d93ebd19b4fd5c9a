"""The incident page's communication: posting updates (htmx and plain), visibility,
following, the delivery ledger, notification settings and the unsubscribe link."""

from datetime import timedelta

import pytest
import time_machine
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Notification, Profile, StatusUpdate, Subscription
from incidents.notifications import unsubscribe as notifications
from incidents.tests.factories import make_incident


@pytest.fixture
def incident(reporter, responder):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    return incident


def url(incident, action=""):
    return f"/incidents/{incident.ref}/{action}"


def test_a_responder_posts_a_public_update_without_javascript(clients, incident):
    response = clients["responder"].post(url(incident, "update/"), {"message": " All good now. ", "public": "on"})
    assert response.status_code == 302 and response["Location"] == url(incident)
    update = StatusUpdate.objects.get(incident=incident)
    assert (update.message, update.public) == ("All good now.", True)
    assert incident.timeline.filter(kind="status_update", data__public=True).exists()


def test_with_htmx_the_panel_comes_back_with_the_update(clients, incident):
    response = clients["responder"].post(
        url(incident, "update/"), {"message": "Internal detail"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="updates-panel"' in body and "Internal detail" in body and "Internal</span>" in body
    assert "<html" not in body
    assert StatusUpdate.objects.get().public is False


def test_an_empty_update_is_refused_with_a_clear_error(clients, incident):
    response = clients["responder"].post(url(incident, "update/"), {"message": "   "}, headers={"HX-Request": "true"})
    assert "This field is required." in response.content.decode()
    response = clients["responder"].post(url(incident, "update/"), {"message": ""}, follow=True)
    assert "This field is required." in response.content.decode()
    too_long = clients["responder"].post(url(incident, "update/"), {"message": "x" * 5001}, follow=True)
    assert "at most 5000 characters" in too_long.content.decode()
    nul = clients["responder"].post(url(incident, "update/"), {"message": "a\x00b"}, follow=True)
    assert "Null characters are not allowed." in nul.content.decode()
    assert not StatusUpdate.objects.exists()


def test_a_closed_incident_takes_no_updates(clients, incident, responder, manager):
    workflow.resolve(incident, by=responder, summary="ok", confirmed=True)
    workflow.close(incident, by=manager)
    response = clients["responder"].post(url(incident, "update/"), {"message": "late"}, follow=True)
    assert "is closed" in response.content.decode()
    assert not StatusUpdate.objects.exists()


def test_the_page_says_when_the_last_public_update_was(clients, incident, responder):
    page = clients["viewer"].get(url(incident)).content.decode()
    assert "No public update yet" in page
    with time_machine.travel(now() - timedelta(minutes=12)):
        workflow.post_update(incident, by=responder, message="Investigating.", public=True)
    workflow.post_update(incident, by=responder, message="Internal, later.", public=False)
    page = clients["viewer"].get(url(incident)).content.decode()
    assert "Last public update 12 min ago" in page
    assert f'action="/incidents/{incident.ref}/update/"' not in page  # viewers cannot post


@pytest.mark.parametrize("internal_after", [0, 3, 4, 5, 9])
def test_the_last_public_update_is_found_however_many_internal_ones_follow_it(
    clients, incident, responder, internal_after
):
    # The panel reads it from the five newest updates when they tell, else asks the database.
    with time_machine.travel(now() - timedelta(minutes=40)):
        workflow.post_update(incident, by=responder, message="Public, oldest.", public=True)
    with time_machine.travel(now() - timedelta(minutes=30)):
        workflow.post_update(incident, by=responder, message="Investigating.", public=True)
    for n in range(internal_after):
        with time_machine.travel(now() - timedelta(minutes=20 - n)):
            workflow.post_update(incident, by=responder, message=f"Internal {n}.", public=False)
    page = clients["viewer"].get(url(incident)).content.decode()
    assert "Last public update 30 min ago" in page


def test_internal_updates_alone_are_not_a_public_update(clients, incident, responder):
    for n in range(7):
        workflow.post_update(incident, by=responder, message=f"Internal {n}.", public=False)
    assert "No public update yet" in clients["viewer"].get(url(incident)).content.decode()


def test_the_visibility_toggle_calls_set_public(clients, incident):
    assert clients["responder"].post(url(incident, "visibility/"), {"public": "1"}).status_code == 302
    incident.refresh_from_db()
    assert incident.public is True
    response = clients["responder"].post(url(incident, "visibility/"), {"public": "1"}, follow=True)
    assert "already public" in response.content.decode()
    clients["responder"].post(url(incident, "visibility/"), {"public": "0"})
    incident.refresh_from_db()
    assert incident.public is False
    response = clients["responder"].post(url(incident, "visibility/"), {"public": "maybe"}, follow=True)
    assert "Choose public or internal." in response.content.decode()


def test_follow_and_unfollow_an_incident_and_a_service(clients, incident, viewer):
    client = clients["viewer"]
    client.post(url(incident, "follow/"))
    client.post(url(incident, "follow/"))  # twice is the same as once
    assert Subscription.objects.filter(user=viewer, incident=incident).count() == 1
    assert "Unfollow</button>" in client.get(url(incident)).content.decode()
    client.post(url(incident, "unfollow/"))
    assert not Subscription.objects.filter(user=viewer, incident=incident).exists()

    response = client.post(f"/incidents/services/{incident.service.slug}/follow/", {"next": url(incident)})
    assert response["Location"] == url(incident)
    assert Subscription.objects.filter(user=viewer, service=incident.service).exists()
    response = client.post(f"/incidents/services/{incident.service.slug}/unfollow/", {"next": "https://evil.example/"})
    assert response["Location"] == "/accounts/profile/"  # no open redirect
    assert not Subscription.objects.filter(user=viewer, service=incident.service).exists()
    assert client.post("/incidents/services/no-such-service/follow/").status_code == 404


def test_the_profile_sets_the_severity_threshold_and_lists_follows(clients, incident, viewer):
    client = clients["viewer"]
    Subscription.objects.create(user=viewer, incident=incident)
    assert client.post("/accounts/profile/notifications/", {"min_severity": "critical"}).status_code == 302
    assert client.post("/accounts/profile/notifications/", {"min_severity": "high"}).status_code == 302
    assert list(
        Subscription.objects.filter(user=viewer).exclude(min_severity="").values_list("min_severity", flat=True)
    ) == ["high"]
    page = client.get("/accounts/profile/").content.decode()
    assert incident.ref in page and 'value="high" selected' in page and "Checkout" in page
    response = client.post("/accounts/profile/notifications/", {"min_severity": "apocalyptic"}, follow=True)
    assert "Choose one of the listed severities." in response.content.decode()
    client.post("/accounts/profile/notifications/", {"min_severity": ""})
    assert not Subscription.objects.filter(user=viewer).exclude(min_severity="").exists()


def test_the_ledger_shows_deliveries_to_responders_only(clients, incident, other_responder):
    workflow.add_note(incident, by=other_responder, text="note")
    Notification.objects.filter(incident=incident).update(state="failed", last_error="550 5.1.1 User unknown")
    page = clients["responder"].get(url(incident)).content.decode()
    assert 'id="ledger-panel"' in page and "rob@example.com" in page and "550 5.1.1 User unknown" in page
    assert 'id="ledger-panel"' not in clients["viewer"].get(url(incident)).content.decode()
    assert 'id="ledger-panel"' not in clients["reporter"].get(url(incident)).content.decode()


@pytest.mark.parametrize(("sent", "failed"), [(3, 2), (30, 20), (30, 21), (60, 7)])
def test_the_ledger_counts_every_delivery_however_many_it_shows(clients, incident, sent, failed):
    # Up to LEDGER_ROWS rows the counts come from the rows in hand; past it, from the database.
    Notification.objects.bulk_create(
        Notification(incident=incident, event_key=f"e{n}", channel="email", recipient=f"p{n}@example.com", state=state)
        for n, state in enumerate(["sent"] * sent + ["failed"] * failed)
    )
    page = clients["responder"].get(url(incident)).content.decode()
    assert f"· {sent} sent · {failed} failed" in " ".join(page.split())
    total = sent + failed
    assert (f"The newest 50 of {total}." in page) == (total > 50)


def test_the_incident_page_stays_within_its_query_budget(
    clients, incident, responder, viewer, django_assert_max_num_queries
):
    Subscription.objects.create(user=viewer, incident=incident)
    for i in range(60):
        workflow.post_update(incident, by=responder, message=f"Update {i}", public=i % 2 == 0)
    Notification.objects.bulk_create(
        Notification(
            event_key=f"bulk:{i}", channel="email", recipient=f"p{i}@example.com", body_text="x", incident=incident
        )
        for i in range(300)
    )
    client = clients["responder"]
    client.get(url(incident))  # warm the session and permission caches
    with django_assert_max_num_queries(40) as small:
        client.get(url(incident))
    for i in range(200):
        workflow.post_update(incident, by=responder, message=f"More {i}", public=True)
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get(url(incident)).content.decode()
    assert "The newest 50 of" in page


def test_unsubscribe_asks_on_get_and_acts_on_post_without_signing_in(client, incident, viewer, other_responder):
    sub = Subscription.objects.create(user=viewer, incident=incident)
    workflow.post_update(incident, by=other_responder, message="Public.", public=True)
    row = Notification.objects.get(recipient="vic@example.com")
    link = notifications.unsubscribe_url(row).split("8000", 1)[1]
    page = client.get(link)
    assert page.status_code == 200 and "vic@example.com" in page.content.decode()
    assert Subscription.objects.filter(pk=sub.pk).exists()  # a GET (a mail scanner) changes nothing
    done = client.post(link)  # no CSRF token: RFC 8058 one-click comes from the mail provider
    assert done.status_code == 200 and f"updates on {incident.ref}" in done.content.decode()
    assert not Subscription.objects.filter(pk=sub.pk).exists()
    assert "nothing left" in client.post(link).content.decode()


def test_unsubscribing_from_a_leads_email_turns_email_off(client, incident, other_responder, responder):
    workflow.add_note(incident, by=other_responder, text="for the lead")
    row = Notification.objects.get(recipient="rob@example.com")
    client.post(notifications.unsubscribe_url(row).split("8000", 1)[1])
    assert Profile.objects.get(user=responder).email_notifications is False


def test_outside_stakeholders_unsubscribe_from_the_stakeholder_list(client, incident, responder, other_responder):
    sub = Subscription.objects.create(email="partner@outside.example", service=incident.service)
    workflow.set_public(incident, by=responder, public=True)
    workflow.post_update(incident, by=other_responder, message="Public.", public=True)
    row = Notification.objects.get(recipient="partner@outside.example")
    client.post(notifications.unsubscribe_url(row).split("8000", 1)[1])
    assert not Subscription.objects.filter(pk=sub.pk).exists()


@pytest.mark.parametrize("token", ["forged", "eyJuIjoiMSJ9:badsignature", "x" * 300])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_unsubscribe_token_is_refused(client, token, method):
    response = getattr(client, method)(f"/unsubscribe/{token}/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


@pytest.mark.parametrize("payload", [["n"], {"n": 1}, {}])
def test_a_signed_token_of_the_wrong_shape_is_refused(client, db, payload):
    from django.core import signing

    token = signing.Signer(salt=notifications.UNSUBSCRIBE_SALT).sign_object(payload)
    response = client.post(f"/unsubscribe/{token}/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_the_follow_buttons_say_what_this_user_follows_and_nothing_else(clients, incident, reporter, viewer, responder):
    # The page's incident carries the answer (views._page_incident): another user's subscriptions,
    # and another incident of the same service, must not count.
    service = incident.service
    other = make_incident(by=reporter, service=service)
    Subscription.objects.create(user=responder, incident=incident)
    Subscription.objects.create(user=responder, service=service)
    Subscription.objects.create(user=viewer, incident=other)
    html = clients["viewer"].get(url(incident)).content.decode()
    assert ">Follow</button>" in html and f">Follow {service}</button>" in html

    Subscription.objects.create(user=viewer, service=service)
    html = clients["viewer"].get(url(incident)).content.decode()
    assert ">Follow</button>" in html and f">Unfollow {service}</button>" in html
    html = clients["viewer"].get(url(other)).content.decode()
    assert ">Unfollow</button>" in html and f">Unfollow {service}</button>" in html


def test_the_ledger_shows_deliveries_and_says_so_when_there_are_none(clients, incident, reporter):
    Notification.objects.filter(incident=incident).delete()
    html = clients["responder"].get(url(incident)).content.decode()
    assert "No messages yet." in html and "ledger-row" not in html
    Notification.objects.create(
        incident=incident, event_key="x", channel="email", recipient="ops@example.com", subject="Ledger check"
    )
    html = clients["responder"].get(url(incident)).content.decode()
    assert "Ledger check" in html and "No messages yet." not in html
