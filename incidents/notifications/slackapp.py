"""The Slack app (docs/slack.md): a bot token posts each incident's message with buttons to
`SLACK_CHANNEL` and updates that one message in place whenever the incident changes.

This module builds what goes to Slack (the message's blocks, the outbox rows) and the Web API
client (the official slack-sdk); transports.SlackApp sends the rows, and incidents/slack/ takes
the button presses and the /incident command.

Outbox rows on the `slack_app` channel name their destination in `recipient`:
- `message:<channel>`: post the incident's message, or update it where it was posted
  (SlackMessage); rendered from the incident's state at send time, so a late or repeated
  delivery still shows the current state;
- `ephemeral:<channel>:<member id>`: a reply only that person sees (`body_text`);
- `incident-channel:<incident id>`: one timeline change (`body_text`) posted to the incident's
  own channel (SLACK_INCIDENT_CHANNELS), which the first such delivery creates.
"""

from collections.abc import Callable

from django.conf import settings
from django.utils.text import slugify
from slack_sdk import WebClient

from incidents.models import Incident, Notification, Profile, Severity, SlackChannel, Status, TimelineEntry
from incidents.people import display_name

Kind = TimelineEntry.Kind

# Entries that change what the incident's message shows.
MESSAGE_KINDS = {Kind.REPORTED, Kind.STATUS_CHANGE, Kind.LEAD_CHANGE, Kind.SEVERITY_CHANGE, Kind.EDIT}
# Seconds for a Web API call from a worker; a call inside a request (views.open) gets less.
TIMEOUT = 10
ACK, TAKE, OPEN = "beacon_acknowledge", "beacon_take", "beacon_open"


def enabled() -> bool:
    return bool(settings.SLACK_BOT_TOKEN)


def client(*, timeout: int = TIMEOUT) -> WebClient:
    """The Web API client. No retries of its own: the outbox retries (delivery.py)."""
    return WebClient(
        token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, timeout=timeout, retry_handlers=[]
    )


def escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def incident_url(incident: Incident) -> str:
    return settings.SITE_URL + incident.get_absolute_url()


def message(incident: Incident) -> tuple[str, list[dict]]:
    """The incident's message as it stands: (fallback text, blocks). The buttons are those the
    web offers in this state: Acknowledge while reported, Take while open, Open always."""
    severity = Severity(incident.severity).label
    status = Status(incident.status).label
    lead = display_name(incident.lead, "nobody")
    url = incident_url(incident)
    # The fallback text is mrkdwn too: a title saying <!channel> must not notify anyone.
    text = f"{incident.ref} [{severity}] {escape(incident.title)} — {status}, lead: {escape(lead)}"
    blocks: list[dict] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*<{url}|{incident.ref}>* {escape(incident.title)}"},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Severity*\n{severity}"},
                {"type": "mrkdwn", "text": f"*Status*\n{status}"},
                {"type": "mrkdwn", "text": f"*Lead*\n{escape(lead)}"},
                {"type": "mrkdwn", "text": f"*Service*\n{escape(incident.service.name)}"},
            ],
        },
    ]
    buttons: list[dict] = []
    if incident.status == Status.REPORTED:
        buttons.append(_button("Acknowledge", ACK, incident, style="primary"))
    if incident.is_open:
        buttons.append(_button("Take", TAKE, incident))
    buttons.append(
        {"type": "button", "text": {"type": "plain_text", "text": "Open in Beacon"}, "action_id": OPEN, "url": url}
    )
    blocks.append({"type": "actions", "block_id": f"incident-{incident.pk}", "elements": buttons})
    return text, blocks


def _button(label: str, action_id: str, incident: Incident, **extra) -> dict:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": incident.ref,
        **extra,
    }


def message_rows(entry: TimelineEntry) -> list[Notification]:
    """The row that brings the incident's Slack message up to date after `entry` (none when the
    app is off or the entry changes nothing the message shows)."""
    if not enabled() or not settings.SLACK_CHANNEL or entry.kind not in MESSAGE_KINDS:
        return []
    return [
        Notification(
            event_key=f"entry:{entry.pk}",
            channel=Notification.Channel.SLACK_APP,
            recipient=f"message:{settings.SLACK_CHANNEL}",
            audience=Notification.Audience.TEAM,
            incident=entry.incident,
            entry=entry,
            body_text=f"{entry.incident.ref}: {entry.get_kind_display()} (event {entry.pk})",
        )
    ]


# Incidents that get a channel of their own (SLACK_INCIDENT_CHANNELS).
CHANNEL_SEVERITIES = {Severity.CRITICAL, Severity.HIGH}


def channel_rows(entry: TimelineEntry, text: Callable[[], str]) -> list[Notification]:
    """The row posting `entry` (its words: `text()`) to its incident's own channel: for a
    Critical or High incident, or one that has its channel already (it was urgent once)."""
    if not enabled() or not settings.SLACK_INCIDENT_CHANNELS or entry.kind == Kind.NOTIFICATION:
        return []
    incident = entry.incident
    if incident.severity not in CHANNEL_SEVERITIES and not SlackChannel.objects.filter(incident=incident).exists():
        return []
    return [
        Notification(
            event_key=f"entry:{entry.pk}",
            channel=Notification.Channel.SLACK_APP,
            recipient=f"incident-channel:{incident.pk}",
            audience=Notification.Audience.TEAM,
            incident=incident,
            entry=entry,
            body_text=text(),
        )
    ]


def channel_name(incident: Incident) -> str:
    """`inc-42-checkout-is-down`: Slack's rules (lower case, no spaces, at most 80 characters)."""
    return f"inc-{incident.pk}-{slugify(incident.title)}"[:80].rstrip("-_")


def member_id(user) -> str:
    if user is None:
        return ""
    try:
        return user.profile.slack_member_id
    except Profile.DoesNotExist:
        return ""


def reply_row(*, key: str, channel: str, member: str, text: str, incident: Incident | None = None) -> Notification:
    """An ephemeral reply to one Slack member in `channel`, sent by the Slack worker; `key`
    names the interaction it answers (a repeat adds nothing)."""
    return Notification(
        event_key=f"slack:{key}"[:200],
        channel=Notification.Channel.SLACK_APP,
        recipient=f"ephemeral:{channel}:{member}"[:254],
        audience=Notification.Audience.TEAM,
        incident=incident,
        reason="reply",
        body_text=text,
    )
