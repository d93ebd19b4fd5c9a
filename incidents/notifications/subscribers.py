"""Email updates from the public status page for people without an account.

Double opt-in: the form only sends a confirmation email whose signed link carries what was
asked for (the address, every service or some); the subscriber row is written when that link
is confirmed, so an address nobody confirmed is never stored and never mailed again. Asking
again with a confirmed address changes nothing until the new link is confirmed too: nobody can
change or end someone else's subscription from the form.

Confirmed subscribers hear what outside stakeholders hear (outbox.email_recipients): public
updates, severity raises and resolutions of incidents shown on the status page, of the services
they chose. Every such email has the one-click unsubscribe link of the rest of Beacon's mail,
which deletes the subscriber.
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.timezone import now

from incidents.models import Service, StatusSubscriber
from incidents.notifications import outbox

CONFIRM_SALT = "beacon.status.subscribe"


@dataclass(frozen=True)
class Request:
    email: str
    service_ids: tuple[int, ...]  # empty: every service on the status page

    @property
    def all_services(self) -> bool:
        return not self.service_ids


def public_services():
    return Service.objects.filter(is_public=True).order_by("name")


def confirmation_token(request: Request) -> str:
    payload = {"e": request.email, "s": list(request.service_ids)}
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign_object(payload)


def read_confirmation(token: str) -> Request:
    """The request a confirmation link carries; raises signing.BadSignature (SignatureExpired
    after STATUS_SUBSCRIBE_LINK_HOURS) for a link that was changed, cut short or is too old."""
    data = signing.TimestampSigner(salt=CONFIRM_SALT).unsign_object(
        token, max_age=settings.STATUS_SUBSCRIBE_LINK_HOURS * 3600
    )
    if not isinstance(data, dict) or not isinstance(data.get("e"), str) or not isinstance(data.get("s"), list):
        raise signing.BadSignature("malformed")
    if not all(isinstance(pk, int) for pk in data["s"]):
        raise signing.BadSignature("malformed")
    return Request(email=data["e"], service_ids=tuple(data["s"]))


def send_confirmation(request: Request) -> None:
    """Queue the confirmation email (through the outbox: retried like any other)."""
    names = list(public_services().filter(pk__in=request.service_ids).values_list("name", flat=True))
    link = settings.SITE_URL + reverse("subscribe:confirm", kwargs={"token": confirmation_token(request)})
    row = outbox.public_email(
        "notifications/status_confirm.txt",
        {"link": link, "services": names, "hours": settings.STATUS_SUBSCRIBE_LINK_HOURS},
        event_key=f"status-confirm:{uuid.uuid4()}",
        recipient=request.email,
        subject="Confirm your email updates about our service status",
    )
    with transaction.atomic():
        outbox.write([row])


@transaction.atomic
def confirm(request: Request) -> StatusSubscriber:
    """Store (or change) the subscription a confirmed link asked for. Services no longer on the
    status page are left out; when none of those asked for is left, every service."""
    services = list(public_services().filter(pk__in=request.service_ids))
    subscriber, _ = StatusSubscriber.objects.update_or_create(
        email=request.email, defaults={"all_services": not services, "confirmed_at": now()}
    )
    subscriber.services.set(services)
    return subscriber
