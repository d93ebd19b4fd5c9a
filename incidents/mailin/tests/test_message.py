"""Reading a message: the reply's own text, the ids it answers, mail nobody should act on or answer."""

from email.message import EmailMessage

import pytest

from incidents.mailin.intake import replied_incident
from incidents.mailin.message import Unreadable, read, reply_text, title_of, without_signature
from incidents.models import Notification
from incidents.tests.factories import make_incident


def raw(sender="rob@example.com", subject="Hello", body="Text.", **headers) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "incidents@beacon.example.com", subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Gmail, the header on two lines
        ("Done.\n\nOn Fri, 4 Dec 2026 at 10:00, Beacon <b@x>\nwrote:\n> old\n", "Done."),
        # Gmail, one line
        ("Done.\nOn Fri, Dec 4, 2026 at 10:00 AM Beacon <b@x> wrote:\n> old", "Done."),
        # Outlook
        ("Done.\n\n________________________________\nFrom: Beacon\nSent: Friday\n\nold", "Done."),
        ("Done.\n-----Original Message-----\nFrom: Beacon\nold", "Done."),
        # A phone's signature, and the delimiter one
        ("Done.\n\nSent from my iPhone\n\n> old", "Done."),
        ("Done.\n-- \nRob | Payments\n+1 555", "Done."),
        # German and French clients
        ("Erledigt.\n\nAm 04.12.2026 um 10:00 schrieb Beacon <b@x>:\n> alt", "Erledigt."),
        ("Fait.\n\nLe ven. 4 déc. 2026 à 10:00, Beacon <b@x> a écrit :\n> ancien", "Fait."),
        # Inline answers keep the new lines between quotes
        ("> Is it fixed?\nYes.\n> When?\nAt 10:05.", "Yes.\nAt 10:05."),
        ("> only a quote", ""),
    ],
)
def test_reply_text_keeps_only_what_the_person_wrote(body, expected):
    assert reply_text(body) == expected


def test_a_line_that_merely_starts_with_on_is_kept():
    assert reply_text("On call tonight: Rob.\nThanks") == "On call tonight: Rob.\nThanks"


def test_without_signature_keeps_quoted_text_of_a_new_report():
    assert without_signature("Forwarded alert:\n> disk full\n-- \nsig") == "Forwarded alert:\n> disk full"


def test_titles_lose_forward_prefixes_and_are_cut_to_200():
    assert title_of("Fwd: FW: Disk full") == "Disk full"
    assert len(title_of("x" * 500)) == 200 and title_of("x" * 500).endswith("…")


def test_the_references_answered_come_most_direct_first():
    mail = read(raw(In_Reply_To="<c@x>", References="<a@x> <b@x> <c@x>"), envelope_sender="rob@example.com")
    assert mail.references == ["c@x", "b@x", "a@x"]


def test_the_key_is_the_message_id_so_a_resent_copy_is_the_same_message():
    first = read(raw(Message_ID="<m@x>", body="one"), envelope_sender="r@x")
    again = read(raw(Message_ID="<m@x>", body="one, re-encoded by a relay"), envelope_sender="r@x")
    other = read(raw(body="no id"), envelope_sender="r@x")
    # Another sender's message with the same id (a guess, or a forgery) is another message.
    forged = read(raw(sender="eve@elsewhere.example", Message_ID="<m@x>", body="one"), envelope_sender="r@x")
    assert first.key == again.key
    assert len({first.key, other.key, forged.key}) == 3


@pytest.mark.parametrize(
    ("headers", "envelope", "loop", "answerable"),
    [
        ({}, "rob@example.com", "", True),
        ({"X_Beacon": "notification"}, "rob@example.com", "Beacon's own email came back (a mail loop)", False),
        ({"Auto_Submitted": "auto-replied"}, "rob@example.com", "an automatic reply", False),
        ({}, "", "a bounce or delivery report", False),
        # Automatic or bulk mail may report but is never answered.
        ({"Auto_Submitted": "auto-generated"}, "rob@example.com", "", False),
        ({"Precedence": "bulk"}, "rob@example.com", "", False),
        ({"List_Id": "<ops.lists.example>"}, "rob@example.com", "", False),
        ({"Auto_Submitted": "no"}, "rob@example.com", "", True),
    ],
)
def test_mail_nobody_should_act_on_or_answer(headers, envelope, loop, answerable):
    mail = read(raw(**headers), envelope_sender=envelope, own_address="beacon@beacon.example.com")
    assert (mail.loop, mail.answerable) == (loop, answerable)


def test_beacons_own_address_is_a_loop_whatever_the_headers():
    mail = read(raw(sender="BEACON@beacon.example.com"), envelope_sender="x@y", own_address="beacon@beacon.example.com")
    assert mail.loop == "sent from Beacon's own address (a mail loop)"


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"\x00\x01\x02",
        b"Subject: no sender\r\n\r\nbody",
        b"From: not an address\r\n\r\nbody",
        b"From: a@x.example, b@y.example\r\n\r\nbody",
    ],
)
def test_a_message_without_one_sender_is_unreadable(message):
    with pytest.raises(Unreadable):
        read(message, envelope_sender="a@x.example")


@pytest.mark.django_db
def test_a_reply_finds_its_incident_by_beacons_message_ids_only(settings, reporter):
    settings.SITE_URL = "https://beacon.example.com"
    incident = make_incident(by=reporter)
    row = Notification.objects.create(channel="email", recipient="r@x", incident=incident, body_text="x", event_key="k")

    def found(**headers):
        return replied_incident(read(raw(**headers), envelope_sender="rob@example.com"))

    assert found(In_Reply_To=f"<incident-{incident.pk}@beacon.example.com>") == incident.pk
    assert found(In_Reply_To=f"<incident-{incident.pk}.{row.uuid}@BEACON.example.com>") == incident.pk
    # The Message-ID notifications carried before they named the incident.
    assert found(In_Reply_To=f"<{row.uuid}@beacon.example.com>") == incident.pk
    # Another system's ids are not Beacon's, and an unknown notification names nothing.
    assert found(In_Reply_To=f"<incident-{incident.pk}@other.example>") is None
    assert found(In_Reply_To=f"<incident-{incident.pk}@another.example>") is None  # sorts before ours
    assert found(In_Reply_To=f"<{row.uuid}@another.example>") is None
    assert found(In_Reply_To=f"<{row.uuid}@other.example>") is None  # sorts after ours
    assert found(In_Reply_To="<0b0c4a3e-1111-4222-8333-444455556666@beacon.example.com>") is None
    assert found(subject="Re: [inc-7][High] Disk") == 7
    assert found(subject="Re: disk at 70%") is None
    # The id wins over a reference in the subject (a forwarded thread about another incident).
    assert found(subject="Re: INC-999", References=f"<incident-{incident.pk}@beacon.example.com>") == incident.pk


def test_html_only_mail_is_read_as_text_with_its_line_breaks():
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "rob@example.com", "Re: [INC-3]"
    msg.set_content(
        "<div>Fixed at 10:05 &amp; verified.<br>Rob</div><div>On Fri, 4 Dec 2026, Beacon wrote:</div>"
        "<blockquote><p>[INC-3] Checkout is down</p></blockquote>",
        subtype="html",
    )
    mail = read(msg.as_bytes(), envelope_sender="rob@example.com")
    assert reply_text(mail.body) == "Fixed at 10:05 & verified.\nRob"
