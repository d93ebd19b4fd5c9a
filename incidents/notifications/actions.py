"""Action links in emails: Acknowledge and Take the lead, one tap from a page, an escalation or
a "you lead" email, without a password.

A link is a `django.core.signing.TimestampSigner` token naming one recipient (user id), one
incident, one action and a random nonce. It acts as that user, with that user's permissions
(the workflow checks them, as for the web), for `EMAIL_ACTION_LINK_MINUTES` after the email was
written, and once: the nonce is stored (EmailActionUse, unique) in the transaction of the action.
Opening the link (GET) only asks; mail scanners that prefetch links change nothing.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse

from incidents import roles, workflow
from incidents.access import may_see
from incidents.models import EmailActionUse, Incident, Status

SALT = "beacon.notifications.email-action"
ACKNOWLEDGE, TAKE = "acknowledge", "take"
# What each action is called on its button, and the workflow function that does it.
LABELS = {ACKNOWLEDGE: "Acknowledge", TAKE: "Take the lead"}
DONE = {ACKNOWLEDGE: "{ref} is acknowledged.", TAKE: "You lead {ref} now."}
_DO = {ACKNOWLEDGE: workflow.acknowledge, TAKE: workflow.take}


class LinkRefused(Exception):
    """The link cannot act. `reason` names why (for tests and the status code), `str()` is for
    the person."""

    STATUS = {"invalid": 400, "expired": 410, "used": 410, "inactive": 403, "forbidden": 403, "refused": 409}

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason

    @property
    def status(self) -> int:
        return self.STATUS[self.reason]


@dataclass
class Link:
    user: Any
    incident: Incident
    action: str
    nonce: str

    @property
    def label(self) -> str:
        return LABELS[self.action]


class _SignerAt(signing.TimestampSigner):
    """Signs as of `at`: a page held back (a notification rule's delay, quiet hours) carries links
    whose lifetime starts when it goes out, not when it was written."""

    def __init__(self, at: datetime, **kwargs):
        super().__init__(**kwargs)
        self.at = at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.at.timestamp()))


def _signer(at: datetime | None = None) -> signing.TimestampSigner:
    if at is not None:
        return _SignerAt(at, salt=SALT)
    return signing.TimestampSigner(salt=SALT)


def make_token(user, incident: Incident, action: str, at: datetime | None = None) -> str:
    if action not in _DO:
        raise ValueError(f"unknown email action {action!r}")
    payload = {"u": user.pk, "i": incident.pk, "a": action, "n": secrets.token_urlsafe(16)}
    return _signer(at).sign_object(payload, compress=True)


def action_url(user, incident: Incident, action: str, at: datetime | None = None) -> str:
    return settings.SITE_URL + reverse("email_action", kwargs={"token": make_token(user, incident, action, at)})


def links_for(user, incident: Incident, at: datetime | None = None) -> list[tuple[str, str]]:
    """(label, url) of the links an email to `user` about `incident` carries: Acknowledge while it
    is reported, Take the lead unless they lead it, and Open (the incident page, signed in).
    `at`: when the message goes out, if later than now (their lifetime starts then)."""
    links = []
    if user is not None and incident.is_open:
        if incident.status == Status.REPORTED:
            links.append((LABELS[ACKNOWLEDGE], action_url(user, incident, ACKNOWLEDGE, at)))
        if incident.lead_id != user.pk:
            links.append((LABELS[TAKE], action_url(user, incident, TAKE, at)))
    links.append(("Open", settings.SITE_URL + incident.get_absolute_url()))
    return links


def read(token: str) -> Link:
    """The link a token stands for, checked: signature, age, shape, the user active, not used."""
    try:
        data = _signer().unsign_object(token, max_age=settings.EMAIL_ACTION_LINK_MINUTES * 60)
    except signing.SignatureExpired:
        raise LinkRefused(
            "expired",
            f"This link has expired: action links work for {settings.EMAIL_ACTION_LINK_MINUTES} minutes "
            "after the email was sent.",
        ) from None
    except signing.BadSignature:
        raise LinkRefused("invalid", "This link is not valid: it may have been cut short or changed.") from None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("u"), int)
        and isinstance(data.get("i"), int)
        and data.get("a") in _DO
        and isinstance(data.get("n"), str)
    ):
        raise LinkRefused("invalid", "This link is not valid: it may have been cut short or changed.")
    user = get_user_model().objects.filter(pk=data["u"]).first()
    if user is None or not user.is_active:
        raise LinkRefused("inactive", "This link belongs to an account that is no longer active.")
    incident = Incident.objects.select_related("service", "lead").filter(pk=data["i"]).first()
    if incident is None or not may_see(user, incident):
        # Need-to-know: an incident restricted since the email was sent reads as a missing one.
        raise LinkRefused("invalid", "The incident of this link no longer exists.")
    if EmailActionUse.objects.filter(nonce=data["n"]).exists():
        raise LinkRefused("used", "This link was already used: each action link works once.")
    link = Link(user=user, incident=incident, action=data["a"], nonce=data["n"])
    if not user.has_perm(roles.RESPOND_INCIDENT):
        raise LinkRefused("forbidden", f"Your role does not allow you to {link.label.lower()} incidents.")
    return link


@transaction.atomic
def perform(link: Link) -> str:
    """Do the link's action as its user and spend the link, in one transaction; returns the
    sentence for the person. Raises LinkRefused, and then nothing changed."""
    try:
        with transaction.atomic():  # a savepoint: a second click at the same moment loses here
            EmailActionUse.objects.create(nonce=link.nonce, user=link.user, incident=link.incident, action=link.action)
    except IntegrityError:
        raise LinkRefused("used", "This link was already used: each action link works once.") from None
    try:
        with workflow.via(workflow.VIA_EMAIL):
            _DO[link.action](link.incident, by=link.user)
    except workflow.InvalidTransition as refusal:
        # Roll the use back too: nothing changed, so the link still works (e.g. after a reopen).
        transaction.set_rollback(True)
        raise LinkRefused("refused", str(refusal)) from None
    except PermissionDenied:
        transaction.set_rollback(True)
        raise LinkRefused("forbidden", f"Your role does not allow you to {link.label.lower()} incidents.") from None
    return DONE[link.action].format(ref=link.incident.ref)
