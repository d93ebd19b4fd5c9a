"""Who hears what, written into the outbox in the same transaction as the change.

Public API for the rest of Beacon:

- `queue_direct(event_key=..., user=..., subject=..., template=..., context=..., incident=None)`
  queues one email to one user about something that is not a timeline entry (a review
  due, an on-call shift). Call it inside your own transaction: the row commits (or rolls
  back) with your change, and delivery starts after the commit.
- `queue_page(entry, user)`: tell a paged engineer on every channel of their page plan
  (rules.page_plan: their notification rules, quiet hours); delayed pages are dropped when the
  incident is acknowledged first (`drop_delayed_pages`).

Delivery (claim, send, record) is in delivery.py, the channels in transports.py, the
unsubscribe link in unsubscribe.py and the update reminders in reminders.py.

Every new TimelineEntry passes through `queue_for_entry` (registered with `workflow.on_entry`
by `ready` in incidents/notifications/__init__.py), which decides the recipients from the
entry's kind and data:

| Event                   | Lead | Followers | Outside* | Severity subscribers | Slack |
| ----------------------- | ---- | --------- | -------- | -------------------- | ----- |
| new incident            | yes  |           |          | at/above threshold   | yes   |
| public status update    | yes  | yes       | yes      |                      | yes   |
| severity raised         | yes  | yes       | yes      | newly at/above       | yes   |
| resolved                | yes  | yes       | yes      |                      | yes   |
| anything else (notes..) | yes  |           |          |                      |       |
| role or task assigned   | yes  |           |          |                      | the assignee** |
| task added or ticked    |      |           |          |                      |       |

** The person given a response role or a task is told by email, and on Slack (a message mentioning
them in the incident's Slack destinations) when their profile has a Slack member id and the
incident is not restricted.

Slack: the incoming webhooks. The Slack app (slackapp.py) gets one row for every entry that
changes what the incident's message shows (report, status, lead, severity, edit), which
updates that message in place. The lead's own emails, and pages, carry one-tap action links
(actions.py).

Followers: users following the incident or its service. Outside: the addresses on the
service's stakeholder list, and who subscribed on the status page (subscribers.py) to every
service or this one, only while the incident is shown on the status page (it is public and so
is its service),
and only public content: no notes, logs, descriptions, resolution summaries or names. Nobody is told about their
own action. Entries of kinds other parts write for their own messages (notification,
page, escalation, review) send nothing here.

Restricted incidents (need-to-know, incidents/access.py): only people who may see the incident
hear of it (`access.allowed_user_ids`): followers and subscribers outside that set hear nothing,
outside stakeholder lists nothing at all. Slack channels hear only "a restricted incident was
opened: INC-n, severity", once, and nothing later. A person added to the incident by name is told.
`queue_direct` refuses to write to anyone who may not see the incident it names.
"""

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils import timezone
from django.utils.html import escape

from incidents import roles, tasking
from incidents.access import allowed_user_ids, may_see
from incidents.models import (
    Incident,
    Notification,
    Profile,
    Severity,
    Status,
    StatusSubscriber,
    Subscription,
    TimelineEntry,
)
from incidents.notifications import actions, rules, slackapp
from incidents.notifications.delivery import enqueue
from incidents.notifications.unsubscribe import unsubscribe_url
from incidents.people import display_name

logger = logging.getLogger(__name__)

Kind = TimelineEntry.Kind
Audience = Notification.Audience

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
    user: Any = None
    subscription: Subscription | None = None
    # Why they hear of it, when it is not the lead's or a subscription's reason.
    why: str = ""
    # Someone who subscribed on the status page (incidents/notifications/subscribers.py).
    status_subscriber: StatusSubscriber | None = None


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
    if entry.kind == Kind.TASK and not data.get("assignee_id"):
        # Tasks added, ticked, unticked or unassigned: the timeline (and the incident's own Slack
        # channel) keep them; an email each would bury the lead.
        return None
    return OTHER


def queue_for_entry(entry: TimelineEntry) -> None:
    """Write the outbox rows for `entry`, inside its transaction."""
    drop_delayed_pages(entry)
    event = event_of(entry)
    incident = entry.incident
    if incident.restricted:
        # Need-to-know: email only to those allowed (email_recipients); Slack hears only that a
        # restricted incident was opened. No Slack app message or incident channel: they show the
        # title and every change.
        if event is None:
            return
        rendered: dict = {}
        rows = [_email_row(entry, incident, event, r, rendered) for r in email_recipients(entry, incident, event)]
        if event == NEW:
            rows += _slack_rows(entry, restricted_slack_text(incident))
        write(rows + _moved_follower_rows(entry, incident, rendered))
        return
    # The incident's own Slack channel hears every change, pages and alerts included.
    rows = slackapp.channel_rows(entry, lambda: _channel_text(entry, incident, event))
    if event is not None:
        rendered = {}
        rows += [_email_row(entry, incident, event, r, rendered) for r in email_recipients(entry, incident, event)]
        if event in SLACK_EVENTS:
            rows += _slack_rows(entry, _slack_text(entry, incident, event))
        rows += assignee_slack_rows(entry, incident)
        rows += slackapp.message_rows(entry)
        rows += _moved_follower_rows(entry, incident, rendered)
    write(rows)


def _moved_follower_rows(entry: TimelineEntry, incident: Incident, rendered: dict) -> list[Notification]:
    """An incident closed as a duplicate (workflow.mark_duplicate): who followed it is told it
    went into its primary, which they follow now (its lead hears it as any other change)."""
    data = entry.data or {}
    if entry.kind != Kind.DUPLICATE or data.get("action") != "marked" or not data.get("primary_id"):
        return []
    ids = set(data["followers"]) - {entry.author_id, incident.lead_id}
    allowed = allowed_user_ids(incident, _users_who_may_hear(ids))
    why = f"you followed {incident.ref}, and follow {data.get('primary') or 'INC-' + str(data['primary_id'])} now"
    people = get_user_model().objects.filter(pk__in=allowed).order_by("pk")
    return [
        _email_row(entry, incident, OTHER, Recipient(person.email.lower(), Audience.TEAM, person, why=why), rendered)
        for person in people
    ]


@dataclass
class UpdateAudience:
    """Who a status update would reach, counted the way `queue_for_entry` writes its rows."""

    status_page: bool
    team_emails: int
    outside_emails: int  # the service's stakeholder list
    subscribers: int  # who subscribed on the status page
    slack: int  # Slack webhook destinations, and the incident's own channel


def update_audience(incident: Incident, *, author, public: bool) -> UpdateAudience:
    """Before posting: who hears a public (or internal) status update by `author` now. Counts,
    never addresses (5 queries at most). incidents/notifications/tests/test_audience.py posts the
    update and compares with the rows written."""
    entry = TimelineEntry(incident=incident, author=author, kind=Kind.STATUS_UPDATE, data={"public": public})
    event = event_of(entry) or INTERNAL_UPDATE  # never None for a status update
    recipients = email_recipients(entry, incident, event)
    outside = [r for r in recipients if r.audience == Audience.PUBLIC]
    subscribers = sum(1 for r in outside if r.status_subscriber is not None)
    slack = 0
    if not incident.restricted:
        webhooks = slack_destinations(incident) if event in SLACK_EVENTS else []
        slack = len(slackapp.channel_rows(entry, str)) + len(webhooks)
    return UpdateAudience(
        status_page=public and on_status_page(incident),
        team_emails=len(recipients) - len(outside),
        outside_emails=len(outside) - subscribers,
        subscribers=subscribers,
        slack=slack,
    )


def restricted_slack_text(incident: Incident) -> str:
    """All a Slack channel hears of a restricted incident: that it exists, its reference and severity."""
    return f"A restricted incident was opened: {incident.ref}, {Severity(incident.severity).label}."


def on_status_page(incident: Incident) -> bool:
    """Shown on the status page: public, not restricted, and its service listed there."""
    return incident.public and not incident.restricted and incident.service.is_public


def email_recipients(entry: TimelineEntry, incident: Incident, event: str) -> list[Recipient]:
    """Everyone who hears about this event by email, one per address (4 queries at most)."""
    candidates: list[Recipient] = []
    if incident.lead_id:
        candidates.append(Recipient("", Audience.TEAM, incident.lead))
    added = (entry.data or {}).get("participant_added") and (entry.data or {}).get("participant_id")
    if entry.kind == Kind.ACCESS and added:
        person = get_user_model().objects.filter(pk=added).first()
        if person is not None:
            candidates.append(Recipient("", Audience.TEAM, person))
    assignee = assignee_of(entry)
    if assignee is not None:
        candidates.append(Recipient("", Audience.TEAM, assignee, why=_assigned_why(entry, incident)))
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
                # Only what the status page shows: the incident public (and not restricted) *and* its
                # service listed there.
                if on_status_page(incident):
                    candidates.append(Recipient(sub.email.lower(), Audience.PUBLIC, None, sub))
            else:
                candidates.append(Recipient("", Audience.TEAM, sub.user, sub))
    if event in BROADCAST and on_status_page(incident):
        # Who subscribed on the status page, to every service or to this one: what it shows.
        for subscriber in (
            StatusSubscriber.objects.filter(Q(all_services=True) | Q(services=incident.service_id))
            .distinct()
            .only("pk", "email")
        ):
            candidates.append(Recipient(subscriber.email, Audience.PUBLIC, status_subscriber=subscriber))
    users = {c.user.pk for c in candidates if c.user is not None}
    allowed = allowed_user_ids(incident, _users_who_may_hear(users - {entry.author_id}))
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


def assignee_of(entry: TimelineEntry):
    """The person a role or task entry gives something to (one query), or None."""
    data = entry.data or {}
    if entry.kind not in (Kind.ROLE, Kind.TASK) or not data.get("assignee_id"):
        return None
    return get_user_model().objects.select_related("profile").filter(pk=data["assignee_id"]).first()


def _assigned_why(entry: TimelineEntry, incident: Incident) -> str:
    data = entry.data or {}
    if entry.kind == Kind.ROLE:
        return f"you are {data.get('role')} of {incident.ref}"
    return f"a task of {incident.ref} is yours"


def assignee_slack_rows(entry: TimelineEntry, incident: Incident) -> list[Notification]:
    """The new holder of a role or task, mentioned in the incident's Slack destinations when their
    profile has a Slack member id. Never for a restricted incident (only that it was opened is told)."""
    if incident.restricted or not slack_destinations(incident):
        return []
    person = assignee_of(entry)
    if person is None or person.pk == entry.author_id:
        return []
    try:
        member = person.profile.slack_member_id
    except Profile.DoesNotExist:
        return []
    if not member:
        return []
    url = settings.SITE_URL + incident.get_absolute_url()
    what = _headline(entry, incident, OTHER)
    text = (
        f"<@{member}> *{incident.ref}* [{Severity(incident.severity).label}] {slack_escape(incident.title)} "
        f"— {slack_escape(what)} <{url}|Open> (event {entry.pk})"
    )
    return _slack_rows(entry, text, user=person, reason="assigned")


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
    perm = Permission.objects.filter(content_type__app_label="incidents", codename=roles.codename(roles.VIEW_INCIDENT))
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
    if entry.kind == Kind.ACCESS:
        if data.get("participant_added"):
            return f"Participant added: {data['participant_added']}"
        if data.get("participant_removed"):
            return f"Participant removed: {data['participant_removed']}"
        return "Restricted (need-to-know)" if data.get("restricted") else "Restriction lifted"
    if entry.kind == Kind.ROLE:
        return f"{data['new']} is {data.get('role')}" if data.get("new") else f"{data.get('role')}: nobody now"
    if entry.kind == Kind.DUPLICATE and data.get("primary_id"):
        # `primary`: the reference, or "a restricted incident" (need-to-know, workflow.mark_duplicate).
        verb = "Duplicate of" if data.get("action") == "marked" else "No longer a duplicate of"
        return f"{verb} {data.get('primary') or 'INC-' + str(data['primary_id'])}"
    if entry.kind == Kind.TASK:
        if data.get("action") == "assigned":
            return f"Task for {data.get('new') or 'nobody'}: {data.get('task')}"
        return f"Task {data.get('action')}: {data.get('task')}"
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


# Stands for each row's own unsubscribe link while a message is rendered (see _email).
UNSUBSCRIBE_PLACEHOLDER = "https://beacon.invalid/unsubscribe-placeholder/"


def _email(template: str, context: dict, rendered: dict | None = None, key=None, **fields) -> Notification:
    """An email row with `fields`: the plain-text part rendered from `template`, the HTML part
    from its ".html" twin when there is one, both with the row's own unsubscribe link.

    The link is the only thing that differs between the subscribers of one message, so the
    message is rendered with a placeholder and the link put in its place. With a `rendered`
    dict and a `key` naming everything else the context holds, each distinct message of a
    fan-out is rendered once (200 followers: one rendering, not 200).
    """
    row = Notification(channel=Notification.Channel.EMAIL, **fields)
    found = rendered.get(key) if rendered is not None and key is not None else None
    if found is None:
        context = {
            **context,
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
            "link_minutes": settings.EMAIL_ACTION_LINK_MINUTES,
        }
        body_html = ""
        if template.endswith(".txt"):
            try:
                body_html = get_template(template.removesuffix(".txt") + ".html").render(context)
            except TemplateDoesNotExist:
                pass
        found = (render_to_string(template, context), body_html)
        if rendered is not None and key is not None:
            rendered[key] = found
    link = unsubscribe_url(row)
    row.body_text = found[0].replace(UNSUBSCRIBE_PLACEHOLDER, link)
    row.body_html = found[1].replace(UNSUBSCRIBE_PLACEHOLDER, str(escape(link)))
    return row


def public_email(template: str, context: dict, *, event_key: str, recipient: str, subject: str) -> Notification:
    """An email row to an address without an account, about no incident (a status page
    subscription's confirmation): public audience, `template` rendered with `context`."""
    return _email(
        template,
        context,
        event_key=event_key,
        recipient=recipient,
        audience=Audience.PUBLIC,
        reason="direct",
        subject=clean_header(subject),
    )


def _email_row(entry, incident, event, recipient: Recipient, rendered: dict | None = None) -> Notification:
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
        # The lead's own emails carry one-tap action links (Acknowledge, Take the lead, Open).
        "actions": actions.links_for(recipient.user, incident)
        if recipient.user is not None and recipient.subscription is None and not public
        else [],
    }
    # Subscribers of one audience and reason get the same message; the lead's carries its own links.
    key = None if context["actions"] else (public, context["reason"])
    return _email(
        "notifications/email.txt",
        context,
        rendered,
        key,
        event_key=f"entry:{entry.pk}",
        recipient=recipient.address,
        audience=recipient.audience,
        incident=incident,
        entry=entry,
        user=recipient.user,
        subscription=recipient.subscription,
        status_subscriber=recipient.status_subscriber,
        reason="subscription"
        if recipient.subscription or recipient.status_subscriber
        else ("assigned" if recipient.why else "lead"),
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
    if entry.kind == Kind.ROLE:
        return f"{data.get('role')}: {data.get('old') or 'nobody'} → {data.get('new') or 'nobody'}"
    if entry.kind == Kind.TASK:
        return f"“{data.get('task')}”: {data.get('action')}" + (f" → {data['new']}" if data.get("new") else "")
    return entry.text


def _reason(recipient: Recipient, incident: Incident) -> str:
    sub = recipient.subscription
    if recipient.why:
        return recipient.why
    if recipient.status_subscriber is not None:
        return "you asked for email updates on the status page"
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


def _channel_text(entry, incident, event) -> str:
    """One timeline entry as a line in the incident's own Slack channel (the team's)."""
    event = event or OTHER
    author = display_name(entry.author, "Beacon")
    text = " ".join((_team_text(entry, incident, event) or "").split())
    line = f"*{slack_escape(_headline(entry, incident, event))}* — {slack_escape(author)}"
    return line + (f"\n> {slack_escape(text)}" if text else "")


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
    enqueue delivery of the new ones after the commit: at once, or when a row is due later
    (a page a notification rule delays). Returns the ids of the rows it inserted."""
    if not rows:
        return []
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    # bulk_create with ignore_conflicts sets no ids: read them back by the rows' own uuids,
    # which only the rows inserted now carry (a repeat kept the existing row's uuid).
    fresh = list(
        Notification.objects.filter(uuid__in=[row.uuid for row in rows]).values_list("pk", "channel", "next_attempt_at")
    )
    if fresh:
        written_at = timezone.now()
        # A lambda, not a partial: Django names a failing robust callback by its __qualname__.
        tasking.with_change(lambda: _enqueue_fresh(fresh, written_at))
    return [pk for pk, _, _ in fresh]


def _enqueue_fresh(fresh: list[tuple[int, str, Any]], written_at) -> None:
    enqueue([(pk, channel) for pk, channel, due in fresh if due <= written_at])
    for pk, channel, due in fresh:
        if due > written_at:
            enqueue([(pk, channel)], run_after=due)


def queue_direct(*, event_key: str, user, subject: str, template: str, context: dict, incident=None):
    """Queue one email to `user` about something that is not a timeline entry.

    `template` names a plain-text template (e.g. "reviews/email/action_due.txt"); when a
    template of the same name ending in ".html" exists it becomes the HTML part. The row
    is written in the caller's transaction and delivered after the commit; `event_key`
    (unique per event, e.g. "review-due:17:2026-11-27") makes a repeat harmless.
    Returns the Notification, or None when the user gets no email (see `wants_email`) or may
    not see the restricted `incident` (incidents/access.py).
    """
    if not wants_email(user):
        return None
    if incident is not None and not may_see(user, incident):
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


def queue_page(entry: TimelineEntry, user, *, slack_member_id: str = "") -> list[rules.PlannedPage]:
    """Tell `user` that a PAGE or ESCALATION `entry` pages them, on every channel of their page
    plan (rules.page_plan: their notification rules and quiet hours), each row due when the plan
    says: a delayed one waits pending, and is skipped if the incident is acknowledged first
    (`drop_delayed_pages`). Returns the plan (empty: nothing could reach them).

    Written in the entry's transaction, like every other notification; `entry:<pk>` keys
    make a repeat harmless. `slack_member_id`, when given, is who the Slack message mentions
    (the profile's otherwise); whether Slack is used at all is the plan's answer.
    """
    incident = entry.incident
    plan = rules.page_plan(user, severity=incident.severity, at=entry.created_at)
    allowed = may_see(user, incident)
    rows: list[Notification] = []
    for planned in plan:
        due = entry.created_at + planned.after
        fields = {"event_key": f"entry:{entry.pk}", "user": user, "entry": entry, "reason": "paged"}
        fields["next_attempt_at"] = due
        if planned.channel == Notification.Channel.EMAIL:
            rows.append(_page_email(entry, user, allowed, due, fields))
        elif planned.channel == Notification.Channel.SLACK:
            member = slack_member_id or (user.profile.slack_member_id if hasattr(user, "profile") else "")
            rows += _slack_rows(entry, _page_slack_text(entry, member), user=user, reason="paged", next_attempt_at=due)
        elif planned.channel == Notification.Channel.APPRISE:
            rows.append(_page_push(entry, user, allowed, due, planned.recipient, fields))
    write(rows)
    return plan


def _page_context(entry: TimelineEntry, user, allowed: bool, due) -> dict:
    incident = entry.incident
    return {
        "incident": incident,
        "entry": entry,
        "severity": Severity(incident.severity).label,
        "url": settings.SITE_URL + incident.get_absolute_url(),
        "user": user,
        "site_url": settings.SITE_URL,
        # Signed as of when the message goes out: a held page's links live as long as any.
        "actions": actions.links_for(user, incident, at=due) if allowed else [],
    }


def _page_email(entry: TimelineEntry, user, allowed: bool, due, fields: dict) -> Notification:
    """The page by email. Someone paged for a restricted incident they may not see reads that it
    exists, its reference and severity, and who can let them in; nothing of what it is about, no
    action links, and the row names no incident (queue_direct's rule)."""
    incident = entry.incident
    context = _page_context(entry, user, allowed, due)
    if not allowed:
        subject = clean_header(f"[{incident.ref}][{context['severity']}] Restricted incident — you are paged")
        return _email("notifications/page_restricted.txt", context, recipient=user.email.lower(),
                      audience=Audience.TEAM, subject=subject, **fields)  # fmt: skip
    return _email("notifications/page.txt", context, recipient=user.email.lower(), audience=Audience.TEAM,
                  incident=incident, subject=subject_for(incident, "You are paged"), **fields)  # fmt: skip


def _page_push(entry: TimelineEntry, user, allowed: bool, due, recipient: str, fields: dict) -> Notification:
    """The page on one of the user's paging channels (Apprise): a title and a short text carrying
    the action links. A push service is someone else's server: a restricted incident is only its
    reference and severity there, as in Slack."""
    incident = entry.incident
    context = {**_page_context(entry, user, allowed, due), "restricted": incident.restricted, "allowed": allowed}
    what = "restricted incident" if incident.restricted else incident.title
    title = f"{incident.ref} [{context['severity']}] {what}"
    return Notification(
        channel=Notification.Channel.APPRISE,
        recipient=recipient,
        audience=Audience.TEAM,
        incident=incident if allowed else None,
        subject=clean_header(f"You are paged: {title}"),
        body_text=render_to_string("notifications/page_push.txt", context).strip(),
        **fields,
    )


def _page_slack_text(entry: TimelineEntry, member: str) -> str:
    incident = entry.incident
    if incident.restricted:
        return f"<@{member}> you are paged: {restricted_slack_text(incident)} (event {entry.pk})"
    severity = Severity(incident.severity).label
    return (
        f"<@{member}> you are paged: *{incident.ref}* [{severity}] {slack_escape(incident.title)} "
        f"— {slack_escape(entry.text)} <{settings.SITE_URL}{incident.get_absolute_url()}|Open> (event {entry.pk})"
    )


def drop_delayed_pages(entry: TimelineEntry) -> int:
    """An incident acknowledged (or resolved, or closed) while pages about it still wait for their
    delay: those pages are skipped, in the transaction of the change, and stay in the ledger as
    "skipped". A page already due is left to go. Returns how many were dropped.

    Pages wait only while an incident is reported (nobody acknowledged it): one UPDATE when it
    leaves that state, none for later status changes."""
    data = entry.data or {}
    if entry.kind != Kind.STATUS_CHANGE or data.get("old") != Status.REPORTED or data.get("new") == Status.REPORTED:
        return 0
    return Notification.objects.filter(
        Q(incident=entry.incident) | Q(entry__incident=entry.incident),
        reason="paged",
        state=Notification.State.PENDING,
        attempts=0,
        next_attempt_at__gt=entry.created_at,
    ).update(state=Notification.State.SKIPPED, last_error=f"{entry.incident.ref} was acknowledged before it was due.")
