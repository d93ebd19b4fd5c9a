"""Email in, end to end: messages sent with smtplib to the real receiver (aiosmtpd) on loopback,
refusals delivered through the outbox to a real SMTP sink on loopback."""

import email
import email.policy
import smtplib
import socket
import threading
from datetime import timedelta
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.core import mail as django_mail
from django.core.management import CommandError, call_command
from django.utils.timezone import now

from conftest import make_user
from incidents import roles, workflow
from incidents.mailin.server import IntakeController
from incidents.models import InboundMail, Incident, IncidentType, Notification, Service, TimelineEntry
from incidents.notifications.transports import Email
from incidents.tests.factories import make_incident

pytestmark = pytest.mark.django_db(transaction=True)

INTAKE = "incidents@beacon.example.com"
MAX_BYTES = 100_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """What reaches the outgoing SMTP server: (envelope recipients, the message's bytes)."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        return [raw.decode(errors="replace") for rcpt, raw in self.messages if address in rcpt]


@pytest.fixture
def sink(settings):
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield handler
    controller.stop()


@pytest.fixture
def intake(settings):
    settings.SITE_URL = "https://beacon.example.com"
    settings.DEFAULT_FROM_EMAIL = "Beacon <beacon@beacon.example.com>"
    settings.MAIL_INTAKE_ADDRESSES = [INTAKE]
    settings.MAIL_INTAKE_ALLOWED_DOMAINS = ["partner.example"]
    port = free_port()
    controller = IntakeController(host="127.0.0.1", port=port, max_bytes=MAX_BYTES)
    controller.start()
    yield port
    controller.stop()


def message(sender: str, subject: str, body: str, **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, INTAKE, subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def send(port: int, msg: EmailMessage | bytes, *, sender: str = "someone@example.com", to: str = INTAKE) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        if isinstance(msg, bytes):
            smtp.sendmail(sender, [to], msg)
        else:
            smtp.send_message(msg, from_addr=sender, to_addrs=[to])


# --- new incidents -------------------------------------------------------------------------


def test_a_known_user_opens_an_incident(intake, responder):
    body = "Checkout answers 500 for every card payment.\n\n-- \nRob Responder\nPayments team"
    send(intake, message("Rob <ROB@Example.com>", "Checkout is down", body, Message_ID="<a1@mail.example>"))
    incident = Incident.objects.get()
    assert (incident.title, incident.reporter, incident.source) == ("Checkout is down", responder, "email")
    assert incident.description == "Checkout answers 500 for every card payment."  # signature stripped
    assert incident.service.slug == "email" and not incident.service.is_public
    entry = TimelineEntry.objects.get(incident=incident, kind=TimelineEntry.Kind.REPORTED)
    assert entry.data["via"] == "email"
    record = InboundMail.objects.get()
    assert (record.outcome, record.incident, record.message_id) == ("reported", incident, "<a1@mail.example>")


def test_an_allowed_domain_opens_an_incident_without_an_account(intake):
    send(intake, message("Pat <pat@Partner.example>", "Fwd: API latency above 2 s", "p99 is 2.4 s since 10:05."))
    incident = Incident.objects.get()
    assert incident.title == "API latency above 2 s"
    assert incident.reporter is None
    assert incident.description.startswith("p99 is 2.4 s since 10:05.")
    assert "Reported by email from pat@partner.example." in incident.description


def test_an_unknown_sender_is_refused_with_a_reply_through_the_outbox(intake, sink):
    send(intake, message("eve@elsewhere.example", "Please open an incident", "Something is broken."))
    assert not Incident.objects.exists()
    record = InboundMail.objects.get()
    assert record.outcome == "refused" and "eve@elsewhere.example is not the address" in record.reason
    row = Notification.objects.get(recipient="eve@elsewhere.example")
    assert row.state == "sent" and row.event_key == f"mail-refused:{record.key}"
    [reply] = sink.to("eve@elsewhere.example")
    assert "Subject: Not accepted: Please open an incident" in reply
    assert "not the address of a Beacon account" in reply
    # Beacon's answer is marked, so that it cannot come back as a report (mail loop).
    assert "Auto-Submitted: auto-generated" in reply and "X-Beacon: notification" in reply


def test_a_user_whose_role_may_not_report_is_refused(intake, sink, nobody):
    send(intake, message("nora@example.com", "Broken", "It is broken."))
    assert not Incident.objects.exists()
    assert "is not allowed to report incidents" in InboundMail.objects.get().reason
    assert len(sink.to("nora@example.com")) == 1


def test_refusals_to_one_address_stop_after_five_an_hour(intake, sink):
    for n in range(7):
        send(intake, message("eve@elsewhere.example", f"Try {n}", "Hello"))
    assert InboundMail.objects.filter(outcome="refused").count() == 7
    assert len(sink.to("eve@elsewhere.example")) == 5


def test_an_automatic_mail_from_a_stranger_is_refused_unanswered(intake, sink):
    send(intake, message("monitor@elsewhere.example", "DISK FULL", "/var is full", Auto_Submitted="auto-generated"))
    record = InboundMail.objects.get()
    assert record.outcome == "refused" and "Not answered" in record.reason
    assert sink.messages == [] and not Notification.objects.exists()


# --- replies become notes ------------------------------------------------------------------


QUOTED_REPLY = """Rolled back the deploy, errors are gone.

Rob

On Fri, 4 Dec 2026 at 10:00, Beacon <beacon@beacon.example.com>
wrote:
> [INC-1][High] Checkout is down — reported
> Card payments fail with a 500.
"""


def test_a_reply_matched_by_in_reply_to_becomes_a_note_without_quote_and_signature(intake, responder, reporter):
    incident = make_incident(by=reporter)
    body = QUOTED_REPLY + "\n-- \nRob Responder | Payments\n"
    theirs = f"<incident-{incident.pk}.0b0c4a3e-1111-4222-8333-444455556666@beacon.example.com>"
    send(intake, message("rob@example.com", "Re: the checkout", body, In_Reply_To=theirs))
    note = TimelineEntry.objects.get(incident=incident, kind=TimelineEntry.Kind.NOTE)
    assert note.author == responder
    assert note.text == "Rolled back the deploy, errors are gone.\n\nRob"
    assert note.data["via"] == "email"
    assert Incident.objects.count() == 1  # no new incident
    assert InboundMail.objects.get().outcome == "noted"


def test_a_reply_matched_by_the_subject_becomes_a_note(intake, responder, reporter):
    incident = make_incident(by=reporter)
    send(intake, message("rob@example.com", f"RE: [{incident.ref}][High] Checkout is down", "> quoted\nOn it."))
    note = TimelineEntry.objects.get(incident=incident, kind=TimelineEntry.Kind.NOTE)
    assert note.text == "On it."


def test_a_reply_to_a_real_notification_lands_on_its_incident(intake, responder, reporter, settings):
    """The Message-ID Beacon sends today, read back from a real email, leads to the incident."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    incident = make_incident(by=reporter)
    row = Notification.objects.create(
        channel="email", recipient="rob@example.com", incident=incident, user=responder, body_text="x", event_key="t"
    )
    django_mail.outbox.clear()
    Email(row).send()
    sent = django_mail.outbox[-1].message()
    assert sent["Reply-To"] == INTAKE  # replies come to the intake
    reply = message("rob@example.com", "Re: something", "Confirmed from the data centre.")
    reply["In-Reply-To"] = sent["Message-ID"]
    reply["References"] = f"{sent['References']} {sent['Message-ID']}"
    send(intake, reply)
    assert TimelineEntry.objects.filter(incident=incident, kind="note", text="Confirmed from the data centre.").exists()


def text_of(raw: str) -> str:
    return email.message_from_string(raw, policy=email.policy.default).get_body().get_content()


def test_a_reply_about_a_restricted_incident_the_sender_may_not_see_does_not_reveal_it(
    intake, sink, responder, reporter, manager
):
    secret = make_incident(by=reporter, title="Credential leak")
    workflow.restrict(secret, by=manager, reason="security")
    send(intake, message("rob@example.com", f"Re: [{secret.ref}]", "What happened?"))
    assert not TimelineEntry.objects.filter(incident=secret, kind="note").exists()
    missing = f"INC-{secret.pk + 1000}"
    send(intake, message("rob@example.com", f"Re: [{missing}]", "And this one?"))
    [about_secret, about_missing] = [text_of(raw) for raw in sink.to("rob@example.com")]
    assert "Credential leak" not in about_secret and "What happened?" not in about_secret
    # The same words as for an incident that does not exist: nothing tells them apart.
    assert about_secret.replace(secret.ref, "X") == about_missing.replace(missing, "X")
    assert "no incident X to which rob@example.com may add notes" in about_secret.replace(secret.ref, "X")


def test_a_reporter_may_add_notes_only_to_their_own_report(intake, reporter, responder):
    own, other = make_incident(by=reporter), make_incident(by=responder)
    send(intake, message("rita@example.com", f"Re: [{own.ref}]", "More detail."))
    send(intake, message("rita@example.com", f"Re: [{other.ref}]", "Me too."))
    assert TimelineEntry.objects.filter(incident=own, kind="note").count() == 1
    assert not TimelineEntry.objects.filter(incident=other, kind="note").exists()


def test_a_reply_with_only_quoted_text_adds_nothing(intake, responder, reporter):
    incident = make_incident(by=reporter)
    send(intake, message("rob@example.com", f"Re: [{incident.ref}]", "> only the quote\n"))
    assert not TimelineEntry.objects.filter(incident=incident, kind="note").exists()
    assert InboundMail.objects.get().outcome == "refused"


# --- what must never open anything ---------------------------------------------------------


def test_beacons_own_notification_fed_back_opens_nothing(intake, responder, reporter, settings, sink):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    incident = make_incident(by=reporter)
    row = Notification.objects.create(
        channel="email", recipient=INTAKE, incident=incident, user=None, body_text="x", event_key="loop", subject="s"
    )
    Email(row).send()
    fed_back = django_mail.outbox[-1].message().as_bytes()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    entries = TimelineEntry.objects.count()
    send(intake, fed_back, sender="beacon@beacon.example.com")
    assert Incident.objects.count() == 1 and TimelineEntry.objects.count() == entries
    assert InboundMail.objects.get().outcome == "dropped"
    assert sink.messages == []  # and not answered


def test_mail_from_beacons_own_address_opens_nothing(intake, sink):
    send(intake, message("Beacon <beacon@beacon.example.com>", "[INC-1] Checkout", "text"))
    assert not Incident.objects.exists() and sink.messages == []
    assert InboundMail.objects.get().reason.endswith("(a mail loop)")


@pytest.mark.parametrize(
    ("subject", "headers"),
    [
        ("Re: hello", {"Auto_Submitted": "auto-replied"}),
        ("Re: hello", {"X_Autoreply": "yes"}),
        ("Re: hello", {"Precedence": "auto_reply"}),
        ("Out of Office: back Monday", {}),
        ("Automatic reply: [INC-1] Checkout", {}),
    ],
)
def test_auto_replies_are_dropped_never_answered(intake, sink, responder, subject, headers):
    send(intake, message("rob@example.com", subject, "I am away.", **headers))
    assert not Incident.objects.exists() and sink.messages == []
    assert InboundMail.objects.get().outcome == "dropped"


def test_a_bounce_is_dropped(intake, sink):
    send(intake, message("MAILER-DAEMON@mx.example", "Undelivered Mail", "gone"), sender="")
    assert InboundMail.objects.get().outcome == "dropped" and sink.messages == []


# --- bad input ------------------------------------------------------------------------------


def test_garbage_bytes_are_refused_at_smtp_and_nothing_is_written(intake):
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake, b"\x00\xff\xfe garbage \x81\x82\r\n\r\n\xc3\x28")
    assert refused.value.smtp_code == 550
    assert not InboundMail.objects.exists() and not Incident.objects.exists()


def test_a_message_without_from_is_refused_at_smtp(intake):
    raw = b"To: incidents@beacon.example.com\r\nSubject: no sender\r\n\r\nbody\r\n"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake, raw)
    assert refused.value.smtp_code == 550 and b"From" in refused.value.smtp_error
    assert not InboundMail.objects.exists()


def test_bad_encodings_are_read_with_replacement_characters(intake, responder):
    raw = (
        b"From: rob@example.com\r\nTo: incidents@beacon.example.com\r\n"
        b"Subject: =?x-unknown?q?Caf=E9?= down\r\nMessage-ID: <enc@mail.example>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nThe caf\xe9 API is down \xff.\r\n"
    )
    send(intake, raw)
    incident = Incident.objects.get()
    assert "down" in incident.title
    assert incident.description.startswith("The caf") and "API is down" in incident.description


def test_a_huge_attachment_is_refused_with_552_and_nothing_is_written(intake):
    msg = message("rob@example.com", "Logs attached", "See the dump.")
    msg.add_attachment(b"\0" * (MAX_BYTES * 2), maintype="application", subtype="octet-stream", filename="core.dump")
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused, smtplib.SMTPServerDisconnected)) as refused:
        send(intake, msg)
    assert getattr(refused.value, "smtp_code", 552) == 552
    assert not InboundMail.objects.exists() and not Incident.objects.exists()


def test_a_huge_message_announced_with_size_is_refused_at_mail_from(intake):
    with smtplib.SMTP("127.0.0.1", intake, timeout=10) as smtp:
        smtp.ehlo()
        assert int(smtp.esmtp_features["size"]) == MAX_BYTES
        code, _ = smtp.mail("rob@example.com", options=[f"SIZE={MAX_BYTES * 2}"])
    assert code == 552


def test_a_small_attachment_is_named_not_stored(intake, responder):
    msg = message("rob@example.com", "Screenshot of the error", "See attached.")
    msg.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="error.png")
    send(intake, msg)
    assert "(Attachments not stored: error.png)" in Incident.objects.get().description


def test_other_recipients_are_refused_at_rcpt(intake):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(intake, message("rob@example.com", "x", "y"), to="someone@beacon.example.com")
    assert refused.value.recipients["someone@beacon.example.com"][0] == 550


def test_a_database_failure_answers_451_so_the_mail_server_retries(intake, responder, monkeypatch):
    from incidents.mailin import intake as mailin

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(mailin, "_act", broken)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(intake, message("rob@example.com", "Down", "down", Message_ID="<retry@mail.example>"))
    assert refused.value.smtp_code == 451
    assert not InboundMail.objects.exists()
    monkeypatch.undo()
    send(intake, message("rob@example.com", "Down", "down", Message_ID="<retry@mail.example>"))
    assert Incident.objects.count() == 1


# --- idempotency --------------------------------------------------------------------------


def test_the_same_message_twice_opens_one_incident(intake, responder, caplog):
    msg = message("rob@example.com", "Checkout is down", "500s", Message_ID="<twice@mail.example>")
    send(intake, msg)
    caplog.set_level("INFO", logger="incidents.mailin.intake")
    send(intake, msg)
    assert Incident.objects.count() == 1 and InboundMail.objects.count() == 1
    assert "mail intake: <twice@mail.example> was received before; nothing done" in caplog.text


def test_the_same_reply_twice_adds_one_note(intake, responder, reporter):
    incident = make_incident(by=reporter)
    msg = message("rob@example.com", f"Re: [{incident.ref}]", "Fixed.", Message_ID="<note@mail.example>")
    send(intake, msg)
    send(intake, msg)
    assert TimelineEntry.objects.filter(incident=incident, kind="note").count() == 1


def test_the_same_message_on_two_connections_at_once_opens_one_incident(intake, responder):
    msg = message("rob@example.com", "Checkout is down", "500s", Message_ID="<race@mail.example>")
    errors: list[Exception] = []

    def deliver():
        try:
            send(intake, msg)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # On SQLite one writer waits for the other; a 451 would be retried by a real mail server.
    assert all(getattr(e, "smtp_code", None) == 451 for e in errors), errors
    assert Incident.objects.count() == 1


def test_lmtp_answers_once_per_recipient(settings, intake, responder):
    settings.MAIL_INTAKE_ADDRESSES = [INTAKE, "ops@beacon.example.com"]
    port = free_port()
    controller = IntakeController(host="127.0.0.1", port=port, lmtp=True)
    controller.start()
    raw = message("rob@example.com", "Disk full", "on db1").as_bytes().replace(b"\n", b"\r\n")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            replies = conn.makefile("rb")
            replies.readline()  # greeting
            conn.sendall(b"LHLO mx.example\r\n")
            while replies.readline()[3:4] == b"-":
                pass
            conn.sendall(b"MAIL FROM:<rob@example.com>\r\n")
            conn.sendall(f"RCPT TO:<{INTAKE}>\r\nRCPT TO:<ops@beacon.example.com>\r\nDATA\r\n".encode())
            assert [replies.readline()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
            conn.sendall(raw + b"\r\n.\r\n")
            assert [replies.readline()[:3] for _ in range(2)] == [b"250", b"250"]
            conn.sendall(b"QUIT\r\n")
    finally:
        controller.stop()
    assert Incident.objects.count() == 1


def test_the_command_refuses_to_start_without_an_intake_address(settings):
    settings.MAIL_INTAKE_ADDRESSES = []
    with pytest.raises(CommandError, match="MAIL_INTAKE_ADDRESSES"):
        call_command("run_mail_intake", "--port", str(free_port()))


def test_incidents_go_to_an_existing_service_of_that_name(intake, responder):
    existing = Service.objects.create(name="Email", slug="mail-reports")
    send(intake, message("rob@example.com", "Down", "down"))
    assert Incident.objects.get().service == existing


def test_a_reply_names_its_attachments_in_the_note(intake, responder, reporter):
    incident = make_incident(by=reporter)
    msg = message("rob@example.com", f"Re: [{incident.ref}]", "Graph attached.")
    msg.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="latency.png")
    msg.add_attachment(b"log", maintype="text", subtype="plain", filename="app.log")
    send(intake, msg)
    note = TimelineEntry.objects.get(incident=incident, kind="note")
    assert note.text == "Graph attached.\n\n(Attachments not stored: latency.png, app.log)"


@pytest.mark.parametrize(("setting", "expected"), [("high", "high"), ("urgent", "medium"), ("", "medium")])
def test_the_severity_setting_is_used_when_it_is_a_severity(intake, responder, settings, setting, expected):
    settings.MAIL_INTAKE_SEVERITY = setting
    send(intake, message("rob@example.com", "Down", "down"))
    assert Incident.objects.get().severity == expected


def test_a_long_service_setting_makes_a_slug_that_fits(intake, responder, settings):
    settings.MAIL_INTAKE_SERVICE = "reported by mail " * 10
    send(intake, message("rob@example.com", "Down", "down"))
    service = Incident.objects.get().service
    assert len(service.slug) == 100 and service.slug.startswith("reported-by-mail-reported")
    assert not service.is_public


def test_with_no_incident_type_left_the_sender_is_told(intake, sink, responder):
    IncidentType.objects.all().delete()
    send(intake, message("rob@example.com", "Down", "down"))
    assert not Incident.objects.exists()
    record = InboundMail.objects.get()
    assert record.outcome == "refused"
    assert record.reason == (
        "Your email did not open an incident: There is no incident type; a manager must add one in the admin."
    )
    assert len(sink.to("rob@example.com")) == 1


@pytest.mark.parametrize(("minutes_ago", "answered"), [(59, 0), (61, 1)])
def test_the_refusal_limit_counts_the_last_hour(intake, sink, minutes_ago, answered):
    when = now() - timedelta(minutes=minutes_ago)
    for n in range(5):
        InboundMail.objects.create(key=f"k{n}", sender="eve@elsewhere.example", outcome="refused", received_at=when)
    send(intake, message("eve@elsewhere.example", "Again", "Hello"))
    assert len(sink.to("eve@elsewhere.example")) == answered


def test_an_address_two_accounts_share_acts_for_neither(intake, sink, responder):
    twin = make_user("rob2", roles.RESPONDER)
    twin.email = "Rob@Example.com"
    twin.save()
    send(intake, message("rob@example.com", "Down", "down"))
    assert not Incident.objects.exists()
    assert "not the address of a Beacon account" in InboundMail.objects.get().reason


def test_a_deactivated_account_acts_for_nobody(intake, sink, responder):
    responder.is_active = False
    responder.save()
    send(intake, message("rob@example.com", "Down", "down"))
    assert not Incident.objects.exists() and InboundMail.objects.get().outcome == "refused"


def test_without_a_subject_the_title_names_the_sender_within_200_characters(intake, settings):
    domain = "d" * 60 + "." + "e" * 60 + ".partner.example"
    settings.MAIL_INTAKE_ALLOWED_DOMAINS = [domain]
    sender = "p" * 60 + "@" + domain
    send(intake, message(sender, "", "Nothing works."))
    title = Incident.objects.get().title
    assert title == f"Reported by email from {sender}"[:200] and len(title) == 200


def test_a_long_subject_is_recorded_to_300_characters(intake, responder):
    send(intake, message("rob@example.com", "word " * 100, "down"))
    assert len(InboundMail.objects.get().subject) == 300


def test_an_overlong_sender_is_recorded_to_254_characters(intake, settings):
    domain = "d" * 63 + "." + "e" * 63 + "." + "f" * 63 + ".example"
    settings.MAIL_INTAKE_ALLOWED_DOMAINS = [domain]
    sender = "p" * 64 + "@" + domain
    send(intake, message(sender, "Down", "down"))
    assert len(sender) > 254 and InboundMail.objects.get().sender == sender[:254]
