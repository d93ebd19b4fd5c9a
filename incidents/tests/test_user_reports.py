"""Users can report too: "Report a problem" on the status page (no account, rate-limited, bot
traps), a triage queue for responders, and reporters who confirmed an address hearing the public
updates of the incident their report joined, nothing else."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models.signals import post_save
from django.utils.timezone import now

from incidents import user_reports, workflow
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
    malformed = triage.post(
        "/incidents/user-reports/",
        {"reports": [report.pk], "action": "attach", "incident": "yesterday", "severity": "low"},
    )
    assert (
        malformed.status_code == 422 and "Give an incident&#x27;s reference, like INC-42." in malformed.content.decode()
    )
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


# --- the triage functions themselves (incidents/user_reports.py) ----------------------------


def reports(*texts, **fields):
    return [user_reports.submit(what=text, **fields) for text in texts]


def test_a_report_keeps_its_address_lower_cased_and_trimmed(checkout):
    (report,) = reports("Spins.", email="  Ann@Example.COM ", since="noon", service=checkout)
    report.refresh_from_db()
    assert (report.what, report.since, report.service, report.email) == ("Spins.", "noon", checkout, "ann@example.com")


def test_confirming_twice_keeps_the_first_moment_and_follows_nothing_before_an_incident(checkout):
    (report,) = reports("Spins.", email="ann@example.com")
    first = user_reports.confirm_email(report).email_confirmed_at
    assert first is not None
    with time_machine.travel(now() + timedelta(minutes=5)):
        user_reports.confirm_email(UserReport.objects.get(pk=report.pk))
    assert UserReport.objects.get(pk=report.pk).email_confirmed_at == first
    assert not Subscription.objects.exists()


def test_only_confirmed_addresses_of_attached_reports_follow(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    confirmed, unconfirmed, anonymous = reports("A.", "B.", "C.", email="ann@example.com")
    UserReport.objects.filter(pk=unconfirmed.pk).update(email="bob@example.com")
    UserReport.objects.filter(pk=anonymous.pk).update(email="")
    user_reports.confirm_email(confirmed)
    user_reports.confirm_email(UserReport.objects.get(pk=anonymous.pk))  # no address: nothing to follow
    assert user_reports.attach([confirmed.pk, unconfirmed.pk, anonymous.pk], incident, by=responder) == 3
    assert list(Subscription.objects.values_list("email", "incident")) == [("ann@example.com", incident.pk)]
    entry = incident.timeline.get(kind="user_report")
    assert (entry.author, entry.data["followers"], entry.data["reports"]) == (
        responder,
        1,
        [confirmed.pk, unconfirmed.pk, anonymous.pk],
    )
    assert set(UserReport.objects.values_list("state", "incident", "handled_by")) == {
        ("attached", incident.pk, responder.pk)
    }
    assert not UserReport.objects.filter(handled_at__isnull=True).exists()


def test_two_confirmed_reports_of_one_address_follow_once(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    first, second = reports("A.", "B.", email="ann@example.com")
    user_reports.confirm_email(first)
    user_reports.confirm_email(second)
    user_reports.attach([first.pk, second.pk], incident, by=responder)
    assert Subscription.objects.filter(email="ann@example.com", incident=incident).count() == 1
    assert incident.timeline.get(kind="user_report").data["followers"] == 2


def test_the_entry_quotes_ten_reports_oldest_first_each_on_one_line_and_counts_the_rest(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    made = []
    for i in range(12):
        with time_machine.travel(now() - timedelta(minutes=30 - i)):
            made += reports(f"Report\n  {i}", since="noon" if i == 0 else "")
    user_reports.attach([r.pk for r in reversed(made)], incident, by=responder)
    quoted = "\n>\n".join(["> Report 0 (since: noon)"] + [f"> Report {i}" for i in range(1, 10)])
    assert incident.timeline.get(kind="user_report").text == (
        f"12 user report(s) from the status page:\n\n{quoted}\n\n… and 2 more."
    )


def test_ten_reports_are_all_quoted_and_a_long_one_is_cut_at_300_characters(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    made = reports("x" * 400, *[f"R{i}" for i in range(9)])
    user_reports.attach([r.pk for r in made], incident, by=responder)
    text = incident.timeline.get(kind="user_report").text
    assert text.startswith(f"10 user report(s) from the status page:\n\n> {'x' * 300}\n>\n> R0")
    assert text.endswith("> R8")


def test_eleven_reports_leave_one_unquoted(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    made = reports(*[f"R{i}" for i in range(11)])
    user_reports.attach([r.pk for r in made], incident, by=responder)
    assert incident.timeline.get(kind="user_report").text.endswith("> R9\n\n… and 1 more.")


def test_triage_is_for_responders_only(reporter, viewer, checkout):
    incident = make_incident(by=reporter, service=checkout)
    (report,) = reports("Spins.")
    for action in (
        lambda: user_reports.attach([report.pk], incident, by=viewer),
        lambda: user_reports.dismiss([report.pk], by=viewer),
        lambda: user_reports.open_incident([report.pk], by=viewer, service=checkout, severity="low"),
    ):
        with pytest.raises(PermissionDenied):
            action()
    assert UserReport.objects.get().state == "new"
    assert user_reports.dismiss([report.pk], by=None) == 1  # Beacon itself may


def test_reports_cannot_join_a_closed_incident_or_be_handled_twice(reporter, responder, manager, checkout):
    incident = make_incident(by=reporter, service=checkout)
    workflow.resolve(incident, by=responder, summary="ok", confirmed=True)
    workflow.close(incident, by=manager)
    first, second = reports("A.", "B.")
    with pytest.raises(workflow.InvalidTransition, match=f"^{incident.ref} is closed: choose an open incident.$"):
        user_reports.attach([first.pk], Incident.objects.get(pk=incident.pk), by=responder)
    assert user_reports.dismiss([first.pk, second.pk], by=responder) == 2
    dismissed = UserReport.objects.get(pk=first.pk)
    assert (dismissed.state, dismissed.handled_by, dismissed.incident) == ("dismissed", responder, None)
    assert dismissed.handled_at is not None
    with pytest.raises(workflow.InvalidTransition, match="^Choose at least one new user report.$"):
        user_reports.dismiss([first.pk], by=responder)


def test_an_incident_opened_from_reports_is_named_after_the_oldest_and_dated_from_it(responder, checkout):
    with time_machine.travel(now() - timedelta(minutes=40)):
        (oldest,) = reports("  Checkout   spins\nforever. " + "y" * 200)
    with time_machine.travel(now() - timedelta(minutes=20)):
        (newer,) = reports("Cannot pay.")
    incident = user_reports.open_incident([newer.pk, oldest.pk], by=responder, service=checkout, severity="high")
    first = "Checkout spins forever. " + "y" * 200
    assert incident.title == first[:150] + "…"
    assert incident.description == "Opened from 2 user report(s) on the status page (quoted on the timeline)."
    assert incident.impact == "2 user(s) reported it."
    assert incident.occurred_at == UserReport.objects.get(pk=oldest.pk).created_at
    assert (incident.service, incident.severity, incident.reporter) == (checkout, "high", responder)
    assert set(UserReport.objects.values_list("state", "incident")) == {("attached", incident.pk)}


def test_a_title_of_exactly_150_characters_is_kept_whole_and_an_empty_one_is_named_for_users(responder, checkout):
    (exact,) = reports("z" * 150)
    assert user_reports.open_incident([exact.pk], by=responder, service=checkout, severity="low").title == "z" * 150
    (blank,) = reports(" \n ")
    assert (
        user_reports.open_incident([blank.pk], by=responder, service=checkout, severity="low").title
        == "Reported by users"
    )


def test_the_queue_counts_new_reports_per_service_the_busiest_of_the_last_ten_minutes_first(checkout):
    search = ServiceFactory(name="Search", is_public=True)
    with time_machine.travel(now() - timedelta(minutes=11)):
        old = reports("Old.", "Old.", "Old.", service=checkout)
    with time_machine.travel(now() - timedelta(minutes=9)):
        reports("Recent.", service=search)
        reports("Recent.", service=checkout)
        (no_service,) = reports("Somewhere.")
    reports("Now.", service=search)
    (handled,) = reports("Handled.", service=checkout)
    user_reports.dismiss([handled.pk], by=None)
    rows = user_reports.waiting()
    assert [(r["service"], r["count"], r["recent"]) for r in rows] == [
        ("Search", 2, 2),
        ("Checkout", 4, 1),
        (None, 1, 1),
    ]
    assert rows[1]["first"] == UserReport.objects.get(pk=old[0].pk).created_at
    assert rows[2]["first"] == no_service.created_at


def test_the_queue_breaks_ties_by_count_then_name(checkout):
    search = ServiceFactory(name="Search", is_public=True)
    billing = ServiceFactory(name="Billing", is_public=True)
    reports("A.", service=search)
    reports("A.", service=checkout)
    reports("A.", service=billing)
    with time_machine.travel(now() - timedelta(minutes=30)):
        reports("Old.", service=search)
    assert [r["service"] for r in user_reports.waiting()] == ["Search", "Billing", "Checkout"]


def test_two_reports_are_quoted_without_a_count_and_twenty_five_count_fifteen_more(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    made = reports("A.", "B.")
    user_reports.attach([r.pk for r in made], incident, by=responder)
    assert incident.timeline.get(kind="user_report").text == "2 user report(s) from the status page:\n\n> A.\n>\n> B."
    other = make_incident(by=reporter, service=checkout)
    many = reports(*[f"R{i}" for i in range(25)])
    user_reports.attach([r.pk for r in many], other, by=responder)
    assert other.timeline.get(kind="user_report").text.endswith("> R9\n\n… and 15 more.")


def test_a_title_of_151_characters_is_cut_with_an_ellipsis(responder, checkout):
    (long,) = reports("w" * 151)
    incident = user_reports.open_incident([long.pk], by=responder, service=checkout, severity="low")
    assert incident.title == "w" * 150 + "…"


def test_reports_join_an_acknowledged_incident(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    workflow.acknowledge(incident, by=responder)
    (report,) = reports("A.")
    assert user_reports.attach([report.pk], Incident.objects.get(pk=incident.pk), by=responder) == 1


def test_the_triage_page_lists_the_newest_hundred_new_reports(clients, checkout):
    made = reports(*[f"R{i}" for i in range(101)])
    page = clients["responder"].get("/incidents/user-reports/").content.decode()
    assert page.count('name="reports"') == 100
    assert f'id="report-{made[0].pk}"' not in page and f'id="report-{made[-1].pk}"' in page


class Boom(Exception):
    pass


@pytest.fixture
def failing_entries():
    """A listener that fails on the user_report entry: what was written before it must go too."""

    def boom(entry):
        if entry.kind == "user_report":
            raise Boom

    workflow.on_entry(boom)
    yield
    workflow._entry_listeners.remove(boom)


@pytest.mark.django_db(transaction=True)
def test_an_attachment_that_fails_attaches_nothing(failing_entries, reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    (report,) = reports("A.")
    with pytest.raises(Boom):
        user_reports.attach([report.pk], incident, by=responder)
    assert UserReport.objects.values_list("state", "incident").get() == ("new", None)


@pytest.mark.django_db(transaction=True)
def test_opening_an_incident_that_fails_opens_none(failing_entries, responder, checkout):
    (report,) = reports("A.")
    with pytest.raises(Boom):
        user_reports.open_incident([report.pk], by=responder, service=checkout, severity="low")
    assert not Incident.objects.exists()
    assert UserReport.objects.get().state == "new"


@pytest.mark.django_db(transaction=True)
def test_a_confirmation_that_fails_to_follow_confirms_nothing(reporter, responder, checkout):
    incident = make_incident(by=reporter, service=checkout)
    (report,) = reports("A.", email="ann@example.com")
    user_reports.attach([report.pk], incident, by=responder)

    def boom(sender, instance, **kwargs):
        raise Boom

    post_save.connect(boom, sender=Subscription)
    try:
        with pytest.raises(Boom):
            user_reports.confirm_email(UserReport.objects.get(pk=report.pk))
    finally:
        post_save.disconnect(boom, sender=Subscription)
    assert UserReport.objects.get().email_confirmed_at is None


@pytest.mark.django_db(transaction=True)
def test_dismissing_locks_the_reports_in_its_own_transaction(responder, checkout):
    """On PostgreSQL the reports are read FOR UPDATE, which needs a transaction of dismiss's own."""
    (report,) = reports("A.")
    assert user_reports.dismiss([report.pk], by=responder) == 1
    assert UserReport.objects.get().state == "dismissed"
