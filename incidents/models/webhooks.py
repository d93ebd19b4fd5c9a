"""Outgoing webhooks: URLs that managers register to hear chosen events (docs/webhooks-out.md).

Deliveries are outbox rows on the `webhook` channel (incidents/notifications/webhooks.py writes
them, transports.Webhook sends them). Each hook has its own signing secret. Beacon must keep the
secret itself to sign with it (a hash would not do, unlike tokens that come in): it is stored as
made, never shown again after it was made or rotated, left out of the admin's lists and forms,
of `repr`, of logs and of the audit log's values (masked there).
"""

import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.timezone import now


class Event(models.TextChoices):
    """What a hook may hear. `incident.resolved` is also a status change: a hook that picked both
    gets two deliveries, each with its own event id."""

    INCIDENT_CREATED = "incident.created", "Incident created"
    STATUS_CHANGED = "incident.status_changed", "Status changed"
    SEVERITY_CHANGED = "incident.severity_changed", "Severity changed"
    STATUS_UPDATE_POSTED = "status_update.posted", "Public status update posted"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    REVIEW_PUBLISHED = "review.published", "Review published"


SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def address_refusal(address: str) -> str | None:
    """Why Beacon may not post to this IP address (loopback, private, link-local, reserved…), or
    None. Only public addresses, unless WEBHOOKS_ALLOW_PRIVATE says otherwise (tests, a receiver
    on the same network on purpose)."""
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return None
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        return (
            f"{address} is a private, loopback or reserved address; Beacon posts only to public addresses "
            "(WEBHOOKS_ALLOW_PRIVATE=1 allows others)."
        )
    return None


def url_refusal(url: str) -> str | None:
    """Why Beacon will not post to `url`, or None: http(s) only, a host, and (unless
    WEBHOOKS_ALLOW_PRIVATE) none of the addresses the host resolves to private. A host that does
    not resolve now passes here; the delivery checks again and fails while it does not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError as error:
        return f"not a valid URL: {error}"
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs are allowed."
    if not parts.hostname:
        return "the URL has no host."
    if parts.username or parts.password:
        return "put no user name or password in the URL; the signature proves it is Beacon."
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return None
    try:
        found = socket.getaddrinfo(parts.hostname, None)  # the addresses; the port changes none of them
    except (socket.gaierror, UnicodeError):
        return None
    for *_, sockaddr in found:
        refusal = address_refusal(str(sockaddr[0]))
        if refusal:
            return f"{parts.hostname} resolves to {refusal}"
    return None


def validate_url(url: str) -> None:
    refusal = url_refusal(url)
    if refusal:
        raise ValidationError(refusal)


def validate_events(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Pick at least one event.")
    unknown = [v for v in value if v not in Event.values]
    if unknown:
        raise ValidationError(f"Unknown event(s): {', '.join(map(str, unknown))}.")


class Webhook(models.Model):
    """A URL that hears the events it picked, signed with its own secret.

    Restricted (need-to-know) incidents: a hook hears their events only with
    `include_restricted`; without it, it hears that one was created (reference and severity, as
    Slack does) and nothing later.
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField("URL", max_length=500, validators=[validate_url])
    events = models.JSONField(default=list, validators=[validate_events])
    include_restricted = models.BooleanField(
        "include restricted incidents",
        default=False,
        help_text="Send the title and changes of need-to-know incidents too. Off: only that one was opened "
        "(reference and severity).",
    )
    is_active = models.BooleanField("enabled", default=True)
    secret = models.CharField(max_length=100, editable=False)
    secret_hint = models.CharField(max_length=16, editable=False, help_text="The secret's first characters.")
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Webhook {self.pk} {self.name!r}>"

    @property
    def destination(self) -> str:
        """Its outbox rows' recipient (and its ChannelProblem's destination)."""
        return f"webhook:{self.pk}"

    def set_new_secret(self) -> str:
        """A new secret (creation, rotation); the caller shows it once and saves."""
        secret = new_secret()
        self.secret = secret
        self.secret_hint = secret[:12]
        return secret

    def hears(self, event: str) -> bool:
        return event in (self.events or [])
