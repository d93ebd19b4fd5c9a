"""Notification channels: one small class per channel, listed in TRANSPORTS.

A transport sends one Notification row and raises TransportError when it cannot;
`permanent=True` means retrying will not help (an address the server refuses, a
deleted Slack webhook). Transports write nothing to the database: delivery.py records the
outcome, outside any transaction (a transport only reads: Slack looks up a service's URL).
"""

import json
import smtplib
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import BadHeaderError

from incidents.models import Notification, Service
from incidents.notifications.unsubscribe import unsubscribe_url

# Seconds to wait for Slack (urllib has no default: one hung call would stop the queue).
HTTP_TIMEOUT = 10


class TransportError(Exception):
    """`channel_broken`: not this message but the whole destination is unusable until someone
    fixes the configuration (a deleted Slack webhook, SMTP credentials refused)."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: int | None = None, channel_broken: bool = False
    ):
        super().__init__(message)
        self.message, self.permanent, self.retry_after = message, permanent, retry_after
        self.channel_broken = channel_broken


# Slack's answers that mean the webhook itself is gone or revoked (not this one message).
SLACK_BROKEN_ANSWERS = (
    "invalid_token",
    "no_service",
    "no_team",
    "team_disabled",
    "channel_not_found",
    "channel_is_archived",
    "action_prohibited",
    "no_active_hooks",
)


def site_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def message_id(notification: Notification) -> str:
    """Deterministic: a message sent twice after a crash carries the same id both times."""
    return f"<{notification.uuid}@{site_domain()}>"


def thread_id(incident_id: int) -> str:
    """The stable root every email about one incident refers to, so mail clients thread them."""
    return f"<incident-{incident_id}@{site_domain()}>"


class Transport:
    """Send one notification. Raises TransportError; returns normally only when the
    receiving server accepted the message."""

    def __init__(self, notification: Notification):
        self.notification = notification

    def send(self) -> None:
        raise NotImplementedError


class Email(Transport):
    def send(self) -> None:
        n = self.notification
        headers = {"Message-ID": message_id(n), "Auto-Submitted": "auto-generated"}
        if n.incident_id:
            headers["In-Reply-To"] = headers["References"] = thread_id(n.incident_id)
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(n)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # One recipient per message: Django drops partial refusals of multi-recipient mail silently.
        message = EmailMultiAlternatives(
            n.subject, n.body_text, settings.DEFAULT_FROM_EMAIL, [n.recipient], headers=headers
        )
        if n.body_html:
            message.attach_alternative(n.body_html, "text/html")
        try:
            get_connection(fail_silently=False).send_messages([message])
        except smtplib.SMTPRecipientsRefused as refused:
            code = next(iter(refused.recipients.values()))[0]
            raise TransportError(f"recipient refused: {refused.recipients}", permanent=code >= 500) from refused
        except smtplib.SMTPAuthenticationError as error:
            # Beacon's SMTP credentials are refused: every message fails alike until someone fixes
            # EMAIL_URL. Retried with backoff (nothing is lost meanwhile); managers are told.
            raise TransportError(
                f"SMTP authentication refused: {error.smtp_code} {error.smtp_error!r}", channel_broken=True
            ) from error
        except smtplib.SMTPSenderRefused as error:
            # Our own From is refused: a configuration problem, worth retrying after a fix.
            raise TransportError(f"sender refused: {error.smtp_code} {error.smtp_error!r}") from error
        except smtplib.SMTPResponseException as error:
            raise TransportError(
                f"SMTP {error.smtp_code} {error.smtp_error!r}", permanent=error.smtp_code >= 500
            ) from error
        except BadHeaderError as error:
            raise TransportError(f"bad header: {error}", permanent=True) from error
        except (smtplib.SMTPException, OSError) as error:  # refused, reset, timeout, DNS
            raise TransportError(f"{type(error).__name__}: {error}") from error


class HttpTransport(Transport):
    @staticmethod
    def post(url: str, payload: dict) -> None:
        """POST JSON with a timeout and classify the answer: 2xx done; 429 and 5xx and
        network errors transient (429 with its Retry-After); 404/410 and other 4xx permanent."""
        body = json.dumps(payload).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - http(s) only, checked
                response.read()
        except urllib.error.HTTPError as error:
            text = error.read(200).decode(errors="replace")
            if error.code == 429 or error.code >= 500:
                raise TransportError(f"HTTP {error.code} {text}", retry_after=_retry_after(error)) from error
            broken = error.code in (404, 410) or any(answer in text for answer in SLACK_BROKEN_ANSWERS)
            raise TransportError(f"HTTP {error.code} {text}", permanent=True, channel_broken=broken) from error
        except (TimeoutError, urllib.error.URLError, OSError) as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error


def _retry_after(error: urllib.error.HTTPError) -> int | None:
    try:
        return max(0, int(error.headers.get("Retry-After", "")))
    except ValueError:
        return None


class Slack(HttpTransport):
    def url(self) -> str:
        """The recipient "site" is settings.SLACK_WEBHOOK_URL; "service:<id>" a service's own webhook."""
        recipient = self.notification.recipient
        if recipient == "site":
            return settings.SLACK_WEBHOOK_URL
        service = Service.objects.filter(pk=int(recipient.split(":", 1)[1])).first()
        return service.slack_webhook_url if service else ""

    def send(self) -> None:
        url = self.url()
        if not url.startswith(("http://", "https://")):
            raise TransportError(
                "no Slack webhook URL is configured for this destination any more", permanent=True, channel_broken=True
            )
        self.post(url, {"text": self.notification.body_text})


TRANSPORTS: dict[str, type[Transport]] = {"email": Email, "slack": Slack}
