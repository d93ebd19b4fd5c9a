"""Who hears what, written into the outbox in the same transaction as the change.

Public API for the rest of Beacon:

- `queue_direct(event_key=..., user=..., subject=..., template=..., context=..., incident=None)`
  queues one email to one user about something that is not a timeline entry (a review
  due, an on-call shift). Call it inside your own transaction: the row commits (or rolls
  back) with your change, and delivery starts after the commit.
- `unsubscribe_url(notification)`: the signed link every email carries.

Every new TimelineEntry passes through `queue_for_entry` (registered with
`workflow.on_entry`), which decides the recipients from the entry's kind and data:

| Event                   | Lead | Followers | Outside* | Severity subscribers | Slack |
| ----------------------- | ---- | --------- | -------- | -------------------- | ----- |
| new incident            | yes  |           |          | at/above threshold   | yes   |
| public status update    | yes  | yes       | yes      |                      | yes   |
| severity raised         | yes  | yes       | yes      | newly at/above       | yes   |
| resolved                | yes  | yes       | yes      |                      | yes   |
| anything else (notes..) | yes  |           |          |                      |       |

Followers: users following the incident or its service. Outside: the addresses on the
service's stakeholder list, only while the incident is public (shown on the status page),
and only public content: no notes, logs, descriptions, resolution summaries or names. Nobody is told about their
own action. Entries of kinds other parts write for their own messages (notification,
page, escalation, review) send nothing here.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import signing
from django.db import transaction
from django.db.models import Max, Q
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils.timezone import now

from incidents import workflow
from incidents.models import (
    Incident,
    Notification,
    Profile,
    Severity,
    Status,
    StatusUpdate,
    Subscription,
    TimelineEntry,
)
from incidents.people import display_name

logger = logging.getLogger(__name__)

Kind = TimelineEntry.Kind
Audience = Notification.Audience

UNSUBSCRIBE_SALT = "beacon.notifications.unsubscribe"

# Kinds whose authors queue their own messages (queue_direct), so the lead is not told twice.
SILENT_KINDS = {Kind.NOTIFICATION, Kind.PAGE, Kind.ESCALATION, Kind.REVIEW}

NEW, PUBLIC_UPDATE, INTERNAL_UPDATE, RAISED, LOWERED, RESOLVED, OTHER = (
    "new",
    "public_update",
    "internal_update",
    "raised",
    "lowered",
    "resolved",
    "other",
)
# What followers, outside stakeholders and Slack hear about.
BROADCAST = {PUBLIC_UPDATE, RAISED, RESOLVED}
SLACK_EVENTS = {NEW, PUBLIC_UPDATE, RAISED, RESOLVED}


@dataclass
class Recipient:
    address: str
    audience: str
    user: object = None
    subscription: Subscription | None = None


# --- the listener ----------------------------------------------------------------------


def event_of(entry: TimelineEntry) -> str | None:
    data = entry.data or {}
    if entry.kind in SILENT_KINDS:
        return None
    if entry.kind == Kind.REPORTED:
        return NEW
    # Alert entries: the opening payload is already "New incident", and when every alert has
    # resolved the move to mitigated tells the lead once; only alerts joining later, and a
    # heartbeat coming back, are news of their own.
    if entry.kind == Kind.ALERT_FIRED and data.get("initial"):
        return None
    if entry.kind == Kind.ALERT_RESOLVED and not data.get("heartbeat"):
        return None
    if entry.kind == Kind.STATUS_UPDATE:
        return PUBLIC_UPDATE if data.get("public") else INTERNAL_UPDATE
    if entry.kind == Kind.SEVERITY_CHANGE:
        return RAISED if data.get("raised") else LOWERED
    if entry.kind == Kind.STATUS_CHANGE and data.get("new") == Status.RESOLVED:
        return RESOLVED
    return OTHER


@workflow.on_entry
def queue_for_entry(entry: TimelineEntry) -> None:
    """Write the outbox rows for `entry` (inside its transaction) and arm the update reminder."""
    event = event_of(entry)
    if event is None:
        return
    incident = entry.incident
    rows = [_email_row(entry, incident, event, r) for r in email_recipients(entry, incident, event)]
    if event in SLACK_EVENTS:
        rows += _slack_rows(entry, _slack_text(entry, incident, event))
    write(rows)
    if event in {NEW, PUBLIC_UPDATE, RAISED, LOWERED} or (entry.data or {}).get("reopened"):
        arm_reminder(incident, anchor=entry.created_at if event == PUBLIC_UPDATE else None)


def email_recipients(entry: TimelineEntry, incident: Incident, event: str) -> list[Recipient]:
    """Everyone who hears about this event by email, one per address (3 queries at most)."""
    candidates: list[Recipient] = []
    if incident.lead_id:
        candidates.append(Recipient("", Audience.TEAM, incident.lead))
    # Followers hear broadcasts; severity subscribers only a new incident or a raise.
    targets = Q()
    if event in BROADCAST:
        targets |= Q(incident=incident) | Q(service_id=incident.service_id)
    if event in (NEW, RAISED):
        targets |= ~Q(min_severity="")
    if targets:
        for sub in Subscription.objects.filter(targets).select_related("user"):
            if sub.min_severity:
                if _crosses_threshold(entry, incident, event, sub.min_severity):
                    candidates.append(Recipient("", Audience.TEAM, sub.user, sub))
            elif sub.is_outside:
                if incident.public:
                    candidates.append(Recipient(sub.email.lower(), Audience.PUBLIC, None, sub))
            else:
                candidates.append(Recipient("", Audience.TEAM, sub.user, sub))
    users = {c.user.pk for c in candidates if c.user is not None}
    allowed = _users_who_may_hear(users - {entry.author_id})
    chosen: dict[str, Recipient] = {}
    for candidate in candidates:
        if candidate.user is not None:
            if candidate.user.pk not in allowed:
                continue
            candidate.address = candidate.user.email.lower()
        # A team copy wins over a public one for the same address; the first cause is kept.
        previous = chosen.get(candidate.address)
        if previous is None or (previous.audience == Audience.PUBLIC and candidate.audience == Audience.TEAM):
            chosen[candidate.address] = candidate
    return list(chosen.values())


def _crosses_threshold(entry, incident, event, threshold: str) -> bool:
    rank = Severity(threshold).rank
    if event == NEW:
        return Severity(incident.severity).rank <= rank
    if event == RAISED:
        old, new = Severity(entry.data["old"]).rank, Severity(entry.data["new"]).rank
        return new <= rank < old
    return False


def _users_who_may_hear(user_ids: set[int]) -> set[int]:
    """Of `user_ids`: active, with an email address, email on, and allowed to see incidents."""
    if not user_ids:
        return set()
    perm = Permission.objects.filter(content_type__app_label="incidents", codename="view_incident")
    quiet = Profile.objects.filter(email_notifications=False).values("user_id")
    return set(
        get_user_model()
        .objects.filter(pk__in=user_ids, is_active=True)
        .exclude(email="")
        .exclude(pk__in=quiet)
        .filter(Q(is_superuser=True) | Q(groups__permissions__in=perm) | Q(user_permissions__in=perm))
        .values_list("pk", flat=True)
        .distinct()
    )


def slack_destinations(incident: Incident) -> list[str]:
    destinations = []
    if settings.SLACK_WEBHOOK_URL:
        destinations.append("site")
    if incident.service.slack_webhook_url:
        destinations.append(f"service:{incident.service_id}")
    return destinations


# --- rendering -------------------------------------------------------------------------


def _headline(entry: TimelineEntry, incident: Incident, event: str) -> str:
    data = entry.data or {}
    if event == NEW:
        return "New incident"
    if event == PUBLIC_UPDATE:
        return "Update"
    if event == INTERNAL_UPDATE:
        return "Internal update"
    if event in (RAISED, LOWERED):
        return f"Severity {'raised' if event == RAISED else 'lowered'} to {Severity(data['new']).label}"
    if event == RESOLVED:
        return "Resolved"
    if entry.kind == Kind.STATUS_CHANGE:
        return "Reopened" if data.get("reopened") else Status(data["new"]).label
    if entry.kind == Kind.LEAD_CHANGE:
        return f"Lead: {data.get('new') or 'nobody'}"
    return entry.get_kind_display()


def _public_text(entry: TimelineEntry, incident: Incident, event: str) -> str:
    """The only words an outside stakeholder may read: never notes, summaries or names."""
    if event == PUBLIC_UPDATE:
        return entry.text
    if event == RAISED:
        return f"We have raised the severity of this incident to {Severity(entry.data['new']).label}."
    return "This incident is resolved."


def clean_header(text: str, limit: int = 250) -> str:
    """A header-safe line: newlines (header injection, BadHeaderError) become spaces."""
    return " ".join(str(text).split())[:limit]


def subject_for(incident: Incident, headline: str) -> str:
    severity = Severity(incident.severity).label
    return clean_header(f"[{incident.ref}][{severity}] {incident.title} — {headline}")


def _email(template: str, context: dict, **fields) -> Notification:
    """An email row with `fields`: the plain-text part rendered from `template`, the HTML part
    from its ".html" twin when there is one, both with the row's own unsubscribe link."""
    row = Notification(channel=Notification.Channel.EMAIL, **fields)
    context = {**context, "unsubscribe_url": unsubscribe_url(row)}
    row.body_text = render_to_string(template, context)
    if template.endswith(".txt"):
        try:
            row.body_html = get_template(template.removesuffix(".txt") + ".html").render(context)
        except TemplateDoesNotExist:
            pass
    return row


def _email_row(entry, incident, event, recipient: Recipient) -> Notification:
    public = recipient.audience == Audience.PUBLIC
    headline = _headline(entry, incident, event)
    context = {
        "incident": incident,
        "severity": Severity(incident.severity).label,
        "status": Status(incident.status).label,
        "headline": headline,
        "public": public,
        "text": _public_text(entry, incident, event) if public else _team_text(entry, incident, event),
        "author": None if public else display_name(entry.author, "Beacon"),
        "url": settings.SITE_URL + ("/status/" if public else incident.get_absolute_url()),
        "reason": _reason(recipient, incident),
    }
    return _email(
        "notifications/email.txt",
        context,
        event_key=f"entry:{entry.pk}",
        recipient=recipient.address,
        audience=recipient.audience,
        incident=incident,
        entry=entry,
        user=recipient.user,
        subscription=recipient.subscription,
        reason="subscription" if recipient.subscription else "lead",
        subject=subject_for(incident, headline),
    )


def _team_text(entry, incident, event) -> str:
    data = entry.data or {}
    if event == NEW:
        return f"{incident.service.name}: {incident.impact}"
    if event in (RAISED, LOWERED):
        reason = f" — {entry.text}" if entry.text else ""
        return f"Severity {Severity(data['old']).label} → {Severity(data['new']).label}{reason}"
    if entry.kind == Kind.STATUS_CHANGE and not entry.text:
        return f"Status {Status(data['old']).label} → {Status(data['new']).label}"
    if entry.kind == Kind.LEAD_CHANGE:
        return f"Lead {data.get('old') or 'nobody'} → {data.get('new') or 'nobody'}"
    if entry.kind == Kind.EDIT:
        return "Changed: " + ", ".join(sorted((data.get("changes") or {}).keys()))
    return entry.text


def _reason(recipient: Recipient, incident: Incident) -> str:
    sub = recipient.subscription
    if sub is None:
        return f"you lead {incident.ref}"
    if sub.min_severity:
        return f"you asked for every {Severity(sub.min_severity).label} or more severe incident"
    if sub.incident_id:
        return f"you follow {incident.ref}"
    if sub.is_outside:
        return f"you are on the stakeholder list of {incident.service.name}"
    return f"you follow {incident.service.name}"


def slack_escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_text(entry, incident, event) -> str:
    context = {
        "incident": incident,
        "title": slack_escape(incident.title),
        "severity": Severity(incident.severity).label,
        "status": Status(incident.status).label,
        "headline": _headline(entry, incident, event),
        "text": slack_escape(" ".join(entry.text.split())) if event == PUBLIC_UPDATE else "",
        "event_number": entry.pk,
        "url": settings.SITE_URL + incident.get_absolute_url(),
    }
    return render_to_string("notifications/slack.txt", context).strip()


def _slack_rows(entry: TimelineEntry, text: str, **fields) -> list[Notification]:
    """One Slack row with `text` per Slack destination of the entry's incident."""
    return [
        Notification(
            event_key=f"entry:{entry.pk}",
            channel=Notification.Channel.SLACK,
            recipient=destination,
            audience=Audience.TEAM,
            incident=entry.incident,
            entry=entry,
            body_text=text,
            **fields,
        )
        for destination in slack_destinations(entry.incident)
    ]


# --- the outbox ------------------------------------------------------------------------


def write(rows: list[Notification]) -> list[int]:
    """Insert `rows` (a repeat of an existing (event, channel, recipient) adds nothing) and
    enqueue delivery of the new ones after the commit. Returns the ids of the rows it inserted."""
    if not rows:
        return []
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    # bulk_create with ignore_conflicts sets no ids: read them back by the rows' own uuids,
    # which only the rows inserted now carry (a repeat kept the existing row's uuid).
    fresh = list(Notification.objects.filter(uuid__in=[row.uuid for row in rows]).values_list("pk", "channel"))
    if fresh:
        transaction.on_commit(lambda: enqueue(fresh), robust=True)
    return [pk for pk, _ in fresh]


def enqueue(rows: list[tuple[int, str]], run_after=None) -> None:
    """Hand rows to the task queues: each channel has its own queue (and worker)."""
    from incidents import tasks

    for pk, channel in rows:
        task = tasks.DELIVERY_TASKS[channel]
        if run_after is not None:
            if not task.get_backend().supports_defer:
                continue  # an inline backend: the sweeper picks the row up when it is due
            task = task.using(run_after=run_after)
        task.enqueue(pk)


def queue_direct(*, event_key: str, user, subject: str, template: str, context: dict, incident=None):
    """Queue one email to `user` about something that is not a timeline entry.

    `template` names a plain-text template (e.g. "reviews/email/action_due.txt"); when a
    template of the same name ending in ".html" exists it becomes the HTML part. The row
    is written in the caller's transaction and delivered after the commit; `event_key`
    (unique per event, e.g. "review-due:17:2026-11-27") makes a repeat harmless.
    Returns the Notification, or None when the user gets no email (see `wants_email`).
    """
    if not wants_email(user):
        return None
    row = _email(
        template,
        {**context, "user": user, "site_url": settings.SITE_URL},
        event_key=event_key[:200],
        recipient=user.email.lower(),
        audience=Audience.TEAM,
        incident=incident,
        user=user,
        reason="direct",
        subject=clean_header(subject),
    )
    written = write([row])
    if written:
        row.pk = written[0]
        return row
    # A repeat of the event: the row written the first time.
    return Notification.objects.filter(event_key=row.event_key, channel=row.channel, recipient=row.recipient).first()


def wants_email(user) -> bool:
    """Active, with an address, and email not turned off in their profile. Reads
    `user.profile`: select_related("profile") spares the query."""
    if not user.is_active or not user.email:
        return False
    try:
        return user.profile.email_notifications
    except Profile.DoesNotExist:
        return True


def queue_page(entry: TimelineEntry, user, *, slack_member_id: str = "") -> None:
    """Tell `user` at once that a PAGE or ESCALATION `entry` pages them: an email, and a Slack
    message mentioning them (<@member id>) in the incident's Slack channels when they have one.

    Written in the entry's transaction, like every other notification; `entry:<pk>` keys
    make a repeat harmless.
    """
    incident = entry.incident
    severity = Severity(incident.severity).label
    queue_direct(
        event_key=f"entry:{entry.pk}",
        user=user,
        subject=subject_for(incident, "You are paged"),
        template="notifications/page.txt",
        context={
            "incident": incident,
            "entry": entry,
            "severity": severity,
            "url": settings.SITE_URL + incident.get_absolute_url(),
        },
        incident=incident,
    )
    if not slack_member_id:
        return
    text = (
        f"<@{slack_member_id}> you are paged: *{incident.ref}* [{severity}] {slack_escape(incident.title)} "
        f"— {slack_escape(entry.text)} <{settings.SITE_URL}{incident.get_absolute_url()}|Open> (event {entry.pk})"
    )
    write(_slack_rows(entry, text, user=user, reason="paged"))


# --- unsubscribing ---------------------------------------------------------------------


def unsubscribe_token(notification: Notification) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"n": str(notification.uuid)})


def unsubscribe_url(notification: Notification) -> str:
    return settings.SITE_URL + reverse("unsubscribe", kwargs={"token": unsubscribe_token(notification)})


def read_unsubscribe_token(token: str) -> Notification | None:
    """The notification a signed token names; raises signing.BadSignature for a forged one."""
    data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        raise signing.BadSignature("malformed")
    return (
        Notification.objects.select_related("subscription__service", "user", "incident").filter(uuid=data["n"]).first()
    )


def unsubscribe(notification: Notification) -> str:
    """Stop what caused `notification`: its subscription, or else all email to that user.
    Returns a sentence for the person."""
    sub = notification.subscription
    if sub is not None:
        if sub.incident_id:
            what = f"updates on INC-{sub.incident_id}"
        elif sub.service_id:
            what = f"updates on {sub.service.name}"
        else:
            what = f"every new {sub.get_min_severity_display()} or more severe incident"
        sub.delete()
        return f"You will no longer receive emails about {what}."
    if notification.user_id and notification.reason != "subscription":
        Profile.objects.update_or_create(user_id=notification.user_id, defaults={"email_notifications": False})
        return "Beacon will send you no more email. You can turn it on again in your settings."
    return "There is nothing left to unsubscribe from."


# --- update reminders ------------------------------------------------------------------


def reminder_interval(severity: str) -> timedelta | None:
    minutes = settings.UPDATE_REMINDER_MINUTES.get(severity)
    return timedelta(minutes=minutes) if minutes else None


def last_public_update_at(incident: Incident):
    return StatusUpdate.objects.filter(incident=incident, public=True).aggregate(last=Max("created_at"))["last"]


def arm_reminder(incident: Incident, *, anchor=None) -> None:
    """Schedule a reminder check for when the incident's next public update is due.

    Stale timers are harmless: `remind_lead` re-checks the state when it runs.
    """
    interval = reminder_interval(incident.severity)
    if interval is None or not incident.is_open:
        return
    anchor = anchor or last_public_update_at(incident) or incident.reported_at
    due = max(anchor + interval, now())
    incident_id = incident.pk
    transaction.on_commit(lambda: _enqueue_reminder(incident_id, due), robust=True)


def _enqueue_reminder(incident_id: int, due) -> None:
    from incidents import tasks

    if not tasks.remind_lead.get_backend().supports_defer:
        return  # an inline backend cannot wait: the sweeper checks reminders every minute
    tasks.remind_lead.using(run_after=due).enqueue(incident_id)


def remind_lead(incident_id: int) -> bool:
    """Remind the lead of an open incident whose public update is overdue. Idempotent:
    one reminder per overdue interval (the event key names it). Returns True if it sent one."""
    incident = Incident.objects.select_related("lead__profile", "service").filter(pk=incident_id).first()
    if incident is None or not incident.is_open or incident.lead is None:
        return False
    interval = reminder_interval(incident.severity)
    if interval is None:
        return False
    anchor = last_public_update_at(incident) or incident.reported_at
    overdue = (now() - anchor) // interval
    if overdue < 1:
        return False  # a newer update moved the anchor; its own timer is armed
    key = f"reminder:{incident.pk}:{anchor.isoformat()}:{overdue}"
    minutes = int((now() - anchor).total_seconds() // 60)
    with transaction.atomic():
        # Lock the incident: two timers for the same moment must not both record a reminder.
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if Notification.objects.filter(event_key=key).exists():
            return False
        row = queue_direct(
            event_key=key,
            user=incident.lead,
            subject=subject_for(incident, f"No public update for {minutes} min"),
            template="notifications/reminder.txt",
            context={"incident": incident, "minutes": minutes, "url": settings.SITE_URL + incident.get_absolute_url()},
            incident=incident,
        )
        if row is None:
            return False  # the lead turned email off
        workflow.record(
            locked,
            by=None,
            kind=Kind.NOTIFICATION,
            text=f"Reminder to the lead: no public update for {minutes} min.",
            reminder=True,
        )
        due = anchor + (overdue + 1) * interval
        transaction.on_commit(lambda: _enqueue_reminder(incident.pk, due), robust=True)
    return True


def remind_all_due() -> int:
    """The sweeper's safety net for lost reminder timers: check every open incident of a
    severity with reminders. A bounded set (open Critical/High incidents)."""
    severities = [s for s, minutes in settings.UPDATE_REMINDER_MINUTES.items() if minutes]
    ids = Incident.objects.open().filter(severity__in=severities, lead__isnull=False).values_list("pk", flat=True)
    return sum(1 for pk in list(ids[:500]) if remind_lead(pk))
