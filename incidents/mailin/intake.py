"""What an inbound email does: open an incident, add a note, or nothing (refused, dropped).

`receive()` does it in one transaction with the message's InboundMail row, whose unique key
makes a second delivery of the same message a no-op. Changes go through incidents/workflow.py
(`report`, `add_note`) as the sender, so roles and need-to-know apply as on the pages.

A refusal is answered by email through the outbox, in the same transaction: it is written
together with the record that the message was refused, and delivered (and retried) like every
other email, so neither can be lost without the other. Mail nobody should answer (Beacon's own,
auto-replies, bounces, bulk) is never answered, and one address gets at most REFUSALS_PER_HOUR
answers an hour, so two automatic systems can never keep each other busy.
"""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import slugify
from django.utils.timezone import now

from incidents import roles, workflow
from incidents.models import InboundMail, Incident, Notification, Service, Severity
from incidents.notifications import outbox
from incidents.notifications.transports import site_domain

from .message import Mail, address_of, read, reply_text, title_of, without_signature

logger = logging.getLogger(__name__)

Outcome = InboundMail.Outcome
REFUSALS_PER_HOUR = 5
# "[INC-42]" or "Re: INC-42 …" in a subject.
SUBJECT_REF = re.compile(r"\bINC-(\d{1,18})\b", re.IGNORECASE)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Beacon's Message-IDs (incidents/notifications/transports.py): the thread root
# <incident-42@host>, a message <incident-42.<uuid>@host>, and the older <uuid@host>.
INCIDENT_ID = re.compile(rf"incident-(\d{{1,18}})(?:\.{UUID})?@(.+)", re.IGNORECASE)
NOTIFICATION_ID = re.compile(rf"({UUID})@(.+)", re.IGNORECASE)


def receive(raw: bytes, *, envelope_sender: str = "") -> InboundMail:
    """Act on one message, once. Raises message.Unreadable for a message without a usable
    sender (nothing is written); database errors propagate (the receiver answers 451, the mail
    server retries)."""
    mail = read(raw, envelope_sender=envelope_sender, own_address=address_of(settings.DEFAULT_FROM_EMAIL))
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = InboundMail.objects.create(
                    key=mail.key,
                    message_id=mail.message_id,
                    sender=mail.sender[:254],
                    subject=mail.subject[:300],
                    outcome=Outcome.DROPPED,
                )
        except IntegrityError:
            # Delivered before (or right now by another connection, which has committed).
            logger.info("mail intake: %s was received before; nothing done", mail.message_id or mail.key)
            return InboundMail.objects.get(key=mail.key)
        with workflow.via(workflow.VIA_EMAIL):
            _act(mail, record)
        record.save()
    logger.info("mail intake: %s from %s: %s %s", mail.message_id, mail.sender, record.outcome, record.reason)
    return record


def _act(mail: Mail, record: InboundMail) -> None:
    if mail.loop:
        record.outcome, record.reason = Outcome.DROPPED, mail.loop
        return
    incident_id = replied_incident(mail)
    if incident_id is not None:
        _note(mail, record, incident_id)
    else:
        _report(mail, record)


def replied_incident(mail: Mail) -> int | None:
    """The incident a reply is about: a Beacon Message-ID it answers, else INC-<n> in its subject."""
    host = site_domain().lower()
    for message_id in mail.references:
        match = INCIDENT_ID.fullmatch(message_id)
        if match and match.group(2).lower() == host:
            return int(match.group(1))
        match = NOTIFICATION_ID.fullmatch(message_id)
        if match and match.group(2).lower() == host:
            found = Notification.objects.filter(uuid=match.group(1).lower()).values_list("incident_id", flat=True)
            if found and found[0] is not None:
                return found[0]
    match = SUBJECT_REF.search(mail.subject)
    return int(match.group(1)) if match else None


def known_user(address: str) -> User | None:
    """The one active user with this email address (case-insensitive); None when none or several."""
    users = list(User.objects.filter(email__iexact=address, is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def allowed_domain(address: str) -> bool:
    return address.rpartition("@")[2] in settings.MAIL_INTAKE_ALLOWED_DOMAINS


def _note(mail: Mail, record: InboundMail, incident_id: int) -> None:
    ref = f"INC-{incident_id}"
    user = known_user(mail.sender)
    # A restricted incident the sender may not see is refused like one that does not exist.
    incident = Incident.objects.visible_to(user).filter(pk=incident_id).first() if user else None
    if user is None or incident is None or not workflow.may_add_note(user, incident):
        _refuse(
            mail,
            record,
            f"Your email looks like a reply about {ref}, but Beacon has no incident {ref} to which "
            f"{mail.sender} may add notes, so nothing was added. Notes by email come from the address of "
            "a Beacon account allowed to add notes to the incident.",
        )
        return
    text = reply_text(mail.body)
    if mail.attachments:
        text += "\n\n(Attachments not stored: " + ", ".join(mail.attachments) + ")"
    try:
        record.entry = workflow.add_note(incident, by=user, text=text)
    except workflow.InvalidTransition:
        why = f"Your reply about {ref} had no text of its own above the quoted message, so nothing was added."
        _refuse(mail, record, why)
        return
    record.outcome, record.incident = Outcome.NOTED, incident


def _report(mail: Mail, record: InboundMail) -> None:
    user = known_user(mail.sender)
    may_report = user is not None and user.has_perm(roles.ADD_INCIDENT)
    if not may_report and not allowed_domain(mail.sender):
        if user is not None:
            why = f"the Beacon account of {mail.sender} is not allowed to report incidents."
        else:
            why = f"{mail.sender} is not the address of a Beacon account, nor at a domain allowed to report by email."
        _refuse(mail, record, f"Your email did not open an incident: {why} Report it on {settings.SITE_URL}/ instead.")
        return
    description = without_signature(mail.body) or "(The email had no text.)"
    if not may_report:
        description += f"\n\nReported by email from {mail.sender}."
    if mail.attachments:
        description += "\n\n(Attachments not stored: " + ", ".join(mail.attachments) + ")"
    severity = settings.MAIL_INTAKE_SEVERITY
    try:
        incident = workflow.report(
            by=user if may_report else None,
            title=title_of(mail.subject) or f"Reported by email from {mail.sender}"[:200],
            description=description,
            impact="Not stated: reported by email.",
            occurred_at=now(),
            severity=severity if severity in Severity.values else Severity.MEDIUM,
            service=intake_service(),
            source=Incident.Source.EMAIL,
        )
    except workflow.InvalidTransition as error:  # e.g. no incident type left to report with
        _refuse(mail, record, f"Your email did not open an incident: {error}")
        return
    record.outcome, record.incident = Outcome.REPORTED, incident


def intake_service() -> Service:
    """The service of incidents opened by email (MAIL_INTAKE_SERVICE), created the first time."""
    slug = slugify(settings.MAIL_INTAKE_SERVICE)[:100] or "email"
    name = slug.replace("-", " ").capitalize()
    # By name too: a service called "Email" under another slug is the one meant (names are unique).
    service = Service.objects.filter(Q(slug=slug) | Q(name__iexact=name)).order_by("pk").first()
    if service is None:
        service, _ = Service.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "is_public": False,
                "description": "Incidents reported by email (MAIL_INTAKE_SERVICE); move them to their real service.",
            },
        )
    return service


def _refuse(mail: Mail, record: InboundMail, reason: str) -> None:
    """Record the refusal and, unless the mail must not be answered, queue the answer."""
    record.outcome, record.reason = Outcome.REFUSED, reason
    if not mail.answerable:
        record.reason += " (Not answered: automatic or bulk mail.)"
        return
    recent = InboundMail.objects.filter(
        sender=mail.sender, outcome=Outcome.REFUSED, received_at__gte=now() - timedelta(hours=1)
    ).exclude(pk=record.pk)
    if recent.count() >= REFUSALS_PER_HOUR:
        record.reason += " (Not answered: too many refusals to this address within the hour.)"
        return
    row = outbox.public_email(
        "mailin/refused.txt",
        {"reason": reason, "subject": mail.subject, "site_url": settings.SITE_URL},
        event_key=f"mail-refused:{mail.key}",
        recipient=mail.sender,
        subject=f"Not accepted: {mail.subject or '(no subject)'}",
    )
    outbox.write([row])
