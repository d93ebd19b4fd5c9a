"""Users can report too: "Report a problem" on the status page (no account, rate-limited, bot
traps), a triage queue for responders, and reporters who confirmed an address hearing the public
updates of the incident their report joined, nothing else."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Incident, Notification, PublicRequest, Subscription, UserReport
from incidents.tests.factories import ServiceFactory, make_incident
from incidents.user_report_views import FORM_SALT

URL = "/status/report/"


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout", is_public=True)


def shown(seconds_ago: int = 10) -> str:
    """The form's signed 'shown at' value, as if the page was loaded `seconds_ago`."""
    with time_machine.travel(now() - timedelta(seconds=seconds_ago)):
        return signing.TimestampSigner(salt=FORM_SALT).sign("form")


def send(client, what="The checkout page spins forever.", meta=None, **fields):
    data = {"what": what, "since": "", "service": "", "email": "", "website": "", "shown": shown(), **fields}
    return client.post(URL, data, **(meta or {}))


def confirm_link(address: str) -> str:
    row = Notification.objects.get(recipient=address, event_key__startswith="user-report-confirm:")
    link = re.search(r"http://\S+/status/report/confirm/\S+/", row.body_text).group(0)
    return link[link.index("/status/") :]


def test_the_status_page_offers_it(client, checkout):
    assert 'href="/status/report/">Report a problem</a>' in client.get("/status/").content.decode()
    body = client.get(URL).content.decode()
    assert "Checkout" in body and 'name="website"' in body and 'name="shown"' in body


def test_a_report_waits_for_triage_and_opens_no_incident(client, checkout):
    response = send(client, service=checkout.pk, since="10 minutes")
    assert response.status_code == 302 and response["Location"] == "/status/report/thanks/"
    report = UserReport.objects.get()
    assert (report.state, report.service, report.since, report.email) == ("new", checkout, "10 minutes", "")
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"what": ""}, "This field is required."),
        ({"what": "x" * 2001}, "at most 2000 characters"),
        ({"email": "not-an-address"}, "Enter a valid email address."),
        ({"service": "999999"}, "Choose one of the listed services."),
        ({"since": "y" * 101}, "at most 100 characters"),
        ({"what": "a\x00b"}, "Null characters are not allowed."),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(client, checkout, fields, message):
    response = send(client, **fields)
    assert response.status_code == 422 and message in response.content.decode()
    assert not UserReport.objects.exists() and not PublicRequest.objects.exists()


def test_a_private_service_is_not_offered(client, checkout):
    private = ServiceFactory(name="Billing backend", is_public=False)
    assert "Billing backend" not in client.get(URL).content.decode()
    assert send(client, service=private.pk).status_code == 422


@pytest.mark.parametrize(
    "trap",
    [{"website": "http://spam.example"}, {"shown": "forged"}, {"shown": ""}, "too fast"],
    ids=["honeypot", "forged-time", "no-time", "too-fast"],
)
def test_bots_are_thanked_and_nothing_is_stored(client, checkout, trap):
    fields = {"shown": shown(seconds_ago=0)} if trap == "too fast" else trap
    response = send(client, email="bot@example.com", **fields)
    assert response.status_code == 302 and response["Location"] == "/status/report/thanks/"
    assert not UserReport.objects.exists() and not Notification.objects.exists()


def test_rate_limits_per_client_and_per_address(client, settings, checkout):
    settings.USER_REPORT_PER_IP = 3
    settings.USER_REPORT_PER_ADDRESS = 1
    assert send(client, email="ann@example.com").status_code == 302
    assert send(client, email="ann@example.com").status_code == 302  # the same answer…
    assert UserReport.objects.count() == 1  # …but past the address's limit nothing is stored
    assert send(client).status_code == 302
    refused = send(client)
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert UserReport.objects.count() == 2
    assert send(client, meta={"REMOTE_ADDR": "10.9.8.7"}).status_code == 302


def test_triage_attaches_reports_and_confirmed_reporters_hear_public_updates_only(
    client, clients, checkout, reporter, responder, other_responder
):
    send(client, email="Ann@Example.com", service=checkout.pk)
    send(client, email="bob@example.com", what="Payment page shows an error.")
    send(client, what="Cannot pay.")
    client.post(confirm_link("ann@example.com"))  # Ann confirms; Bob never does
    assert UserReport.objects.get(email="ann@example.com").email_confirmed_at is not None
    incident = make_incident(by=reporter, service=checkout, public=True, title="Checkout returns 500")
    ids = list(UserReport.objects.values_list("pk", flat=True))
    response = clients["responder"].post(
        "/incidents/user-reports/", {"reports": ids, "action": "attach", "incident": incident.ref, "severity": "medium"}
    )
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.ref}/"
    assert set(UserReport.objects.values_list("state", flat=True)) == {"attached"}
    entry = incident.timeline.get(kind="user_report")
    assert entry.text.startswith("3 user report(s) from the status page:")
    assert "> Payment page shows an error." in entry.text
    assert list(Subscription.objects.filter(incident=incident).values_list("email", flat=True)) == ["ann@example.com"]
    workflow.add_note(incident, by=other_responder, text="Internal: the DBA dropped a table.")
    workflow.post_update(incident, by=other_responder, message="Internal detail.", public=False)
    workflow.post_update(incident, by=other_responder, message="We are on it.", public=True)
    told = Notification.objects.filter(recipient="ann@example.com", incident=incident)
    assert [n.audience for n in told] == ["public"]
    assert "We are on it." in told.get().body_text and "DBA" not in told.get().body_text
    assert not Notification.objects.filter(recipient="bob@example.com", incident=incident).exists()
    # Nothing a user typed reaches the status page.
    assert "Payment page shows an error" not in client.get(f"/status/incidents/{incident.ref}/").content.decode()


def test_confirming_after_the_attachment_follows_then(client, clients, checkout, reporter):
    send(client, email="ann@example.com")
    incident = make_incident(by=reporter, service=checkout)
    clients["responder"].post(
        "/incidents/user-reports/",
        {"reports": [UserReport.objects.get().pk], "action": "attach", "incident": incident.ref, "severity": "low"},
    )
    assert not Subscription.objects.filter(email="ann@example.com").exists()
    client.post(confirm_link("ann@example.com"))
    assert Subscription.objects.filter(email="ann@example.com", incident=incident).exists()


def test_opening_an_incident_from_reports(client, clients, checkout, responder):
    send(client, what="Checkout spins forever.", service=checkout.pk)
    send(client, what="Cannot pay at all.")
    ids = list(UserReport.objects.order_by("pk").values_list("pk", flat=True))
    response = clients["responder"].post(
        "/incidents/user-reports/", {"reports": ids, "action": "open", "severity": "high"}
    )
    incident = Incident.objects.get()
    assert response["Location"] == f"/incidents/{incident.ref}/"
    assert (incident.title, incident.service, incident.severity, incident.public) == (
        "Checkout spins forever.",
        checkout,
        "high",
        False,
    )
    assert set(UserReport.objects.values_list("incident", flat=True)) == {incident.pk}


def test_triage_refuses_what_it_cannot_do(client, clients, reporter):
    send(client, what="No service given.")
    report = UserReport.objects.get()
    triage = clients["responder"]
    nothing = triage.post("/incidents/user-reports/", {"action": "dismiss", "severity": "low"})
    assert nothing.status_code == 422 and "Tick at least one report." in nothing.content.decode()
    no_service = triage.post("/incidents/user-reports/", {"reports": [report.pk], "action": "open", "severity": "low"})
    assert "Choose the service to open the incident on." in no_service.content.decode()
    unknown = triage.post(
        "/incidents/user-reports/",
        {"reports": [report.pk], "action": "attach", "incident": "INC-999", "severity": "low"},
    )
    assert "Give the reference of an open incident, like INC-42." in unknown.content.decode()
    assert (
        triage.post("/incidents/user-reports/", {"reports": [report.pk], "action": "dismiss", "severity": "low"})[
            "Location"
        ]
        == "/incidents/user-reports/"
    )
    again = triage.post("/incidents/user-reports/", {"reports": [report.pk], "action": "dismiss", "severity": "low"})
    assert "Some of these reports were handled meanwhile: look again." in again.content.decode()
    assert not Incident.objects.exists()


def test_the_dashboard_tells_responders_what_waits(client, clients, checkout):
    for _ in range(3):
        send(client, service=checkout.pk)
    board = clients["responder"].get("/").content.decode()
    assert "User reports waiting:</strong>\n    3 in 10 min for Checkout." in board
    assert 'href="/incidents/user-reports/">Triage them</a>' in board
    assert "User reports waiting" not in clients["viewer"].get("/").content.decode()


def test_a_changed_confirmation_link_confirms_nothing(client, checkout):
    send(client, email="ann@example.com")
    link = confirm_link("ann@example.com")
    assert client.post(link[:-4] + "/").status_code == 400
    assert UserReport.objects.get().email_confirmed_at is None
