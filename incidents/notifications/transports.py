"""Notification channels: one small class per channel, listed in TRANSPORTS.

A transport sends one Notification row and raises TransportError when it cannot;
`permanent=True` means retrying will not help (an address the server refuses, a
deleted Slack webhook). delivery.py records the outcome, outside any transaction. Transports
only read, with two exceptions: the Slack app remembers where it posted an incident's message
(SlackMessage), so that later changes update that message in place, and a paging channel
remembers when a message last reached it (PagingChannel.verified_at).
"""

import hashlib
import hmac
import http.client
import json
import logging
import re
import smtplib
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import BadHeaderError
from django.utils.timezone import now
from slack_sdk.errors import SlackApiError

from incidents.models import (
    Incident,
    Notification,
    PagingChannel,
    Service,
    SlackChannel,
    SlackMessage,
    Status,
    TimelineEntry,
    Webhook,
)
from incidents.models.channels import apprise_instance, host_refusal
from incidents.models.core import incident_url
from incidents.models.webhooks import address_refusal, url_refusal
from incidents.notifications import slackapp
from incidents.notifications.unsubscribe import unsubscribe_url

logger = logging.getLogger(__name__)

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
    """Deterministic: a message sent twice after a crash carries the same id both times. An
    email about an incident names it (`<incident-42.<uuid>@host>`), so a reply's In-Reply-To
    finds the incident even when the notification row is gone (incidents/mailin/)."""
    if notification.incident_id:
        return f"<incident-{notification.incident_id}.{notification.uuid}@{site_domain()}>"
    return f"<{notification.uuid}@{site_domain()}>"


def thread_id(incident_id: int) -> str:
    """The stable root every email about one incident refers to, so mail clients thread them."""
    return f"<incident-{incident_id}@{site_domain()}>"


# --- one SMTP connection per worker, reused message after message -------------------------
# A worker draining 200 emails of one update sends them over one connection instead of 200
# (connect, EHLO, STARTTLS and AUTH each time). A connection idle longer than this is not
# trusted (servers drop idle clients; RFC 5321 lets them after 5 minutes), and one that does not
# answer NOOP, or that failed a send, is replaced.
SMTP_REUSE_SECONDS = 30


class _Kept(threading.local):
    backend = None
    used_at = 0.0
    settings: tuple = ()


_kept = _Kept()


def _email_settings() -> tuple:
    return tuple(
        getattr(settings, name, None)
        for name in ("EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
                     "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_TIMEOUT")
    )  # fmt: skip


def smtp_backend():
    """This worker's open email backend (Django's, as EMAIL_BACKEND says), reused while fresh
    and while the email settings are the ones it was opened with."""
    backend, wanted = _kept.backend, _email_settings()
    if backend is not None and (
        _kept.settings != wanted or time.monotonic() - _kept.used_at > SMTP_REUSE_SECONDS or not _answers(backend)
    ):
        close_smtp()
        backend = None
    if backend is None:
        backend = get_connection(fail_silently=False)
        backend.open()
        _kept.backend, _kept.settings = backend, wanted
    _kept.used_at = time.monotonic()
    return backend


def _answers(backend) -> bool:
    """Whether a kept SMTP connection still works (a backend without one, e.g. locmem, always does)."""
    smtp = getattr(backend, "connection", None)
    if smtp is None:
        return True
    try:
        return smtp.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def close_smtp() -> None:
    """Drop the kept connection (after a failed send, or when it went stale)."""
    backend, _kept.backend = _kept.backend, None
    if backend is not None:
        try:
            backend.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail any way; it is dropped
            logger.debug("closing the SMTP connection failed", exc_info=True)


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
        # Auto-Submitted (RFC 3834) keeps auto-responders quiet; X-Beacon marks Beacon's own mail,
        # so the mail intake never takes it for a report when it comes back (a loop).
        headers = {"Message-ID": message_id(n), "Auto-Submitted": "auto-generated", "X-Beacon": "notification"}
        if n.incident_id:
            headers["In-Reply-To"] = headers["References"] = thread_id(n.incident_id)
            if n.user_id and settings.MAIL_INTAKE_ADDRESSES:
                # A team member's reply lands on the incident's timeline (docs/email-in.md).
                headers["Reply-To"] = settings.MAIL_INTAKE_ADDRESSES[0]
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(n)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # One recipient per message: Django drops partial refusals of multi-recipient mail silently.
        message = EmailMultiAlternatives(
            n.subject, n.body_text, settings.DEFAULT_FROM_EMAIL, [n.recipient], headers=headers
        )
        if n.body_html:
            message.attach_alternative(n.body_html, "text/html")
        try:
            self._send(message)
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

    @staticmethod
    def _send(message: EmailMultiAlternatives) -> None:
        try:
            smtp_backend().send_messages([message])
        except BaseException:
            close_smtp()  # whatever failed, the next message starts on a fresh connection
            raise


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


# Web API errors worth another try; every other error (channel_not_found, not_in_channel,
# invalid_auth, is_archived, ...) needs a person to fix the configuration first.
SLACK_TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# A first post older than this whose ts never arrived was lost with its worker: post again.
SLACK_POST_LEASE = 120


class SlackApp(Transport):
    """The Slack app's Web API (slackapp.py): the incident's message, posted once and then
    updated in place, and ephemeral replies."""

    def send(self) -> None:
        if not slackapp.enabled():
            raise TransportError("SLACK_BOT_TOKEN is not set any more", permanent=True)
        kind, _, destination = self.notification.recipient.partition(":")
        try:
            if kind == "message":
                self.message(destination)
            elif kind == "incident-channel":
                self.incident_channel()
            elif kind == "ephemeral":
                channel, _, member = destination.partition(":")
                slackapp.client().chat_postEphemeral(channel=channel, user=member, text=self.notification.body_text)
            else:
                raise TransportError(f"unknown Slack app destination {self.notification.recipient!r}", permanent=True)
        except SlackApiError as error:
            raise slack_api_error(error) from error
        except (TimeoutError, urllib.error.URLError, OSError) as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error

    def message(self, channel: str) -> None:
        incident_id = self.notification.incident_id
        incident = (
            Incident.objects.select_related("service", "lead").filter(pk=incident_id).first() if incident_id else None
        )
        if incident is None:
            raise TransportError("the incident no longer exists", permanent=True)
        text, blocks = slackapp.message(incident)
        record, created = SlackMessage.objects.get_or_create(incident=incident, channel=channel)
        api = slackapp.client()
        if record.ts:
            try:
                api.chat_update(channel=channel, ts=record.ts, text=text, blocks=blocks)
            except SlackApiError as error:
                if error.response.get("error") != "message_not_found":
                    raise
                # Somebody deleted the message: post it again below.
                created = bool(SlackMessage.objects.filter(pk=record.pk, ts=record.ts).update(ts="", claimed_at=now()))
            else:
                SlackMessage.objects.filter(pk=record.pk).update(updated_at=now())
                return
        if not created:
            # Another worker is posting the first message: take over only if it died doing so.
            stale = now() - timedelta(seconds=SLACK_POST_LEASE)
            taken = SlackMessage.objects.filter(pk=record.pk, ts="", claimed_at__lt=stale).update(claimed_at=now())
            if not taken:
                raise TransportError("the incident's first Slack message is being posted; updating it later")
        try:
            response = api.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except Exception:
            # Give up the claim, so the retry (of this row or another) posts at once.
            SlackMessage.objects.filter(pk=record.pk, ts="").delete()
            raise
        SlackMessage.objects.filter(pk=record.pk).update(ts=response["ts"], updated_at=now())

    def incident_channel(self) -> None:
        """Post the row's line to the incident's own channel, creating it (and inviting the lead)
        the first time; archive it when the row is the incident's close."""
        n = self.notification
        incident = (
            Incident.objects.select_related("lead__profile").filter(pk=n.incident_id).first() if n.incident_id else None
        )
        if incident is None:
            raise TransportError("the incident no longer exists", permanent=True)
        entry = TimelineEntry.objects.filter(pk=n.entry_id).first() if n.entry_id else None
        kind = entry.kind if entry else ""
        closed = (
            kind == TimelineEntry.Kind.STATUS_CHANGE and entry is not None and entry.data.get("new") == Status.CLOSED
        )
        api = slackapp.client()
        record, created = SlackChannel.objects.get_or_create(
            incident=incident, defaults={"name": slackapp.channel_name(incident)}
        )
        if not record.channel_id:
            if not created:
                stale = now() - timedelta(seconds=SLACK_POST_LEASE)
                if not SlackChannel.objects.filter(pk=record.pk, channel_id="", claimed_at__lt=stale).update(
                    claimed_at=now()
                ):
                    raise TransportError("the incident's Slack channel is being created; posting later")
            try:
                response = api.conversations_create(name=record.name)
            except Exception:
                SlackChannel.objects.filter(pk=record.pk, channel_id="").delete()
                raise
            record.channel_id = response["channel"]["id"]
            SlackChannel.objects.filter(pk=record.pk).update(channel_id=record.channel_id)
            self.invite(api, record.channel_id, slackapp.member_id(incident.lead))
        elif kind == TimelineEntry.Kind.LEAD_CHANGE:
            self.invite(api, record.channel_id, slackapp.member_id(incident.lead))
        if record.archived_at:
            raise TransportError("the incident's Slack channel is archived", permanent=True)
        api.chat_postMessage(channel=record.channel_id, text=n.body_text)
        if closed:
            api.conversations_archive(channel=record.channel_id)
            SlackChannel.objects.filter(pk=record.pk).update(archived_at=now())

    @staticmethod
    def invite(api, channel: str, member: str) -> None:
        """Invite the lead; a failed invitation (already there, unknown member) stops no post."""
        if not member:
            return
        try:
            api.conversations_invite(channel=channel, users=member)
        except SlackApiError as error:
            if error.response.get("error") != "already_in_channel":
                logger.warning("Slack: inviting %s to %s failed: %s", member, channel, error.response.get("error"))


def slack_api_error(error: SlackApiError) -> TransportError:
    response = error.response
    status = response.status_code
    code = response.get("error") if isinstance(response.data, dict) else None
    message = f"Slack Web API: HTTP {status} {code or ''}".strip()
    if status == 429 or code == "ratelimited":
        return TransportError(message, retry_after=_int(response.headers.get("Retry-After")))
    if status >= 500 or code in SLACK_TRANSIENT_ERRORS:
        return TransportError(message)
    return TransportError(message, permanent=True)


def _int(value) -> int | None:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return None


# --- outgoing webhooks (docs/webhooks-out.md) ------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp + "." + body` with the hook's whole secret, as hex."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class RefusedAddress(OSError):
    """The host of a webhook URL turned out (at connect time) to be an address Beacon may not post to."""


def _check_peer(connection: http.client.HTTPConnection) -> None:
    """Refuse a connection whose peer is private (unless allowed): the host may have resolved to
    a public address when the URL was saved and to an inner one now (DNS rebinding)."""
    if connection.sock is None:
        return
    refusal = address_refusal(str(connection.sock.getpeername()[0]))
    if refusal:
        connection.close()
        raise RefusedAddress(refusal)


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()  # TCP and the TLS handshake; nothing of the request is sent yet
        _check_peer(self)


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_CheckedHTTPSConnection, req, context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: it could lead anywhere (an inner address)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# No proxies from the environment: the post goes straight to the checked address.
_webhook_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _NoRedirects(), _CheckedHTTPHandler(), _CheckedHTTPSHandler()
)


class WebhookTransport(Transport):
    """POST the row's JSON body, signed, to the hook's URL as it is now.

    2xx is delivered. 408, 425, 429, 5xx, timeouts and network errors are retried with the
    backoff (429 and 503 no sooner than their Retry-After). Any other answer fails the delivery
    at once, since the same bytes will get the same answer: 3xx (redirects are not followed),
    401/403 (the receiver refuses Beacon: a wrong secret?), 404/410 (the URL is gone) also mark
    the hook broken; 400, 413, 422 and the rest fail that one delivery. The admin's "retry now"
    sends a failed delivery again, same event id, fresh signature.
    """

    def hook(self) -> Webhook:
        pk = self.notification.recipient.removeprefix("webhook:")
        hook = Webhook.objects.filter(pk=int(pk)).first() if pk.isdigit() else None
        if hook is None:
            raise TransportError("the webhook was deleted", permanent=True)
        if not hook.is_active:
            raise TransportError("the webhook is disabled", permanent=True)
        return hook

    def send(self) -> None:
        n = self.notification
        hook = self.hook()
        refusal = url_refusal(hook.url)
        if refusal:
            raise TransportError(f"refused URL: {refusal}", permanent=True, channel_broken=True)
        body = n.body_text.encode()
        event = json.loads(n.body_text)
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            hook.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Beacon-Webhooks/1",
                "Beacon-Event-Id": event["id"],
                "Beacon-Event-Type": event["type"],
                "Beacon-Delivery-Attempt": str(n.attempts),
                "Beacon-Signature": f"t={timestamp},v1={signature(hook.secret, timestamp, body)}",
            },
        )
        try:
            with _webhook_opener.open(request, timeout=HTTP_TIMEOUT) as response:
                response.read(4096)
        except urllib.error.HTTPError as error:
            text = error.read(200).decode(errors="replace")
            message = f"HTTP {error.code} {text}".strip()
            if error.code in (408, 425, 429) or error.code >= 500:
                raise TransportError(message, retry_after=_retry_after(error)) from error
            if 300 <= error.code < 400:
                message = f"HTTP {error.code}: redirects are not followed (to {error.headers.get('Location', '?')})"
            broken = error.code in (401, 403, 404, 410) or 300 <= error.code < 400
            raise TransportError(message, permanent=True, channel_broken=broken) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, RefusedAddress):
                raise TransportError(f"refused address: {error.reason}", permanent=True, channel_broken=True) from error
            raise TransportError(f"{type(error).__name__}: {error.reason}") from error
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            raise TransportError(f"{type(error).__name__}: {error}") from error


# --- a user's own paging channel, through Apprise ------------------------------------------

# Apprise's plugins end a failed HTTP exchange's warning with "error=<status>." (ntfy, json://,
# form://, Gotify, Matrix, Pushover…); a failure without one never reached an answer. ntfy's own
# codes are the status and two more digits (40301: forbidden), which Apprise passes on.
APPRISE_STATUS = re.compile(r"error=(\d{3})\d*\b")
ACKNOWLEDGE_LINE = re.compile(r"^Acknowledge: (\S+)$", re.MULTILINE)


class AppriseTransport(Transport):
    """A page (or the test message) to one of a user's paging channels ("apprise:<pk>").

    Apprise says only whether it worked, and logs why not: its log lines for this one call are
    read from the result it returns (never from the logging tree, where Beacon's settings mute
    the "apprise" logger: its lines carry the secret URL). A 4xx answer is permanent (the topic
    or token is wrong), except 408 and 429; a 5xx, a timeout or a refused connection is retried.
    The error recorded names the service, never the URL.
    """

    def send(self) -> None:
        n = self.notification
        channel = PagingChannel.objects.filter(pk=n.recipient.removeprefix("apprise:")).first()
        if channel is None:
            raise TransportError("The paging channel was removed before the message went out.", permanent=True)
        apobj = apprise_instance()
        plugin = apobj.instantiate(self.url_for(channel, n))
        if plugin is None:
            raise TransportError(f"Apprise cannot use this {channel.scheme}:// URL any more.", permanent=True)
        refusal = host_refusal(plugin)
        if refusal:
            # The address itself is not repeated: it is part of the secret URL.
            raise TransportError(f"{channel.scheme}:// names a private address, refused.", permanent=True)
        apobj.add(plugin)
        result = apobj.notify(title=n.subject, body=n.body_text)
        if result:
            PagingChannel.objects.filter(pk=channel.pk).update(verified_at=now())
            return
        lines = [entry.message for service in result for entry in service.logs()]
        status = next((int(m.group(1)) for line in lines if (m := APPRISE_STATUS.search(line))), None)
        if status is None:
            raise TransportError(f"{channel.scheme}:// could not be reached (no answer, or the connection failed).")
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise TransportError(f"{channel.scheme}:// answered HTTP {status}.", permanent=permanent)

    @staticmethod
    def url_for(channel: PagingChannel, n: Notification) -> str:
        """ntfy can hold links outside the text too: tapping the notification opens the incident,
        and an Acknowledge button (ntfy's "view" action) opens the page's acknowledge link."""
        if channel.scheme not in ("ntfy", "ntfys") or not n.incident_id:
            return channel.url
        parts = urlsplit(channel.url)
        query = dict(parse_qsl(parts.query))
        query["click"] = settings.SITE_URL + incident_url(f"INC-{n.incident_id}")
        acknowledge = ACKNOWLEDGE_LINE.search(n.body_text)
        if acknowledge:
            query["actions"] = f"view, Acknowledge, {acknowledge.group(1)}"
        # %20, not "+": Apprise unquotes a value without turning "+" into a space.
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


TRANSPORTS: dict[str, type[Transport]] = {
    "email": Email,
    "slack": Slack,
    "slack_app": SlackApp,
    "webhook": WebhookTransport,
    "apprise": AppriseTransport,
}
