"""Outgoing webhooks: which hooks hear a timeline entry, and the JSON each is sent.

`queue_for_entry` is a `workflow.on_entry` listener (registered in incidents/notifications/__init__.py,
right after the outbox's own), so a hook's row is written in the transaction of the change, like
every email and Slack message; transports.Webhook signs and posts it, delivery.py retries it.

The body is rendered when the event happens and kept in the row: its event id stays the same
through every retry (the receiver's idempotency key), and a later edit of the incident cannot
leak into it. docs/webhooks-out.md is the contract for receivers.

Restricted (need-to-know) incidents: a hook with `include_restricted` hears them like any other;
a hook without it hears only that one was created (reference, severity, its page), nothing
later and never its title; an incident restricted since stops being sent to it.
"""

import json
import uuid

from django.conf import settings
from django.urls import reverse

from incidents import reference
from incidents.models import Incident, Notification, Status, TimelineEntry, Webhook
from incidents.models.webhooks import Event
from incidents.notifications.outbox import write

Kind = TimelineEntry.Kind


def events_of(entry: TimelineEntry) -> list[str]:
    """The webhook events a timeline entry is (none for most: notes, leads, tasks…)."""
    data = entry.data or {}
    if entry.kind == Kind.REPORTED:
        return [Event.INCIDENT_CREATED]
    if entry.kind == Kind.STATUS_CHANGE:
        events: list[str] = [Event.STATUS_CHANGED]
        if data.get("new") == Status.RESOLVED:
            events.append(Event.INCIDENT_RESOLVED)
        return events
    if entry.kind == Kind.SEVERITY_CHANGE:
        return [Event.SEVERITY_CHANGED]
    if entry.kind == Kind.STATUS_UPDATE and data.get("public"):
        return [Event.STATUS_UPDATE_POSTED]
    if entry.kind == Kind.REVIEW and data.get("event") == "published":
        return [Event.REVIEW_PUBLISHED]
    return []


def queue_for_entry(entry: TimelineEntry) -> None:
    """Write one row per (event, hook that picked it and may hear it), in the entry's transaction.
    No query at all for an entry that is no webhook event; one for the hooks otherwise."""
    events = events_of(entry)
    if not events:
        return
    # Kept per process for alert deliveries (incidents/reference.py); read each time elsewhere.
    active = reference.kept("webhooks", lambda: list(Webhook.objects.filter(is_active=True)))
    hooks = [hook for hook in active if any(hook.hears(e) for e in events)]
    if not hooks:
        return
    incident = entry.incident
    rows = []
    for event in events:
        # One id per event, shared by every hook that hears it.
        event_id = str(uuid.uuid4())
        full = restricted = None
        for hook in hooks:
            if not hook.hears(event):
                continue
            if incident.restricted and not hook.include_restricted:
                if event != Event.INCIDENT_CREATED:
                    continue
                restricted = restricted or body(event_id, event, entry, restricted_fields(incident), {})
                text = restricted
            else:
                full = full or body(event_id, event, entry, incident_fields(incident), event_data(event, entry))
                text = full
            rows.append(
                Notification(
                    event_key=f"entry:{entry.pk}:{event}",
                    channel=Notification.Channel.WEBHOOK,
                    recipient=hook.destination,
                    audience=Notification.Audience.TEAM,
                    incident=incident,
                    entry=entry,
                    reason="webhook",
                    subject=f"{event} {event_id}",
                    body_text=text,
                )
            )
    write(rows)


def body(event_id: str, event: str, entry: TimelineEntry, incident: dict, data: dict) -> str:
    """The JSON document a receiver gets (docs/webhooks-out.md, "The body")."""
    return json.dumps(
        {
            "id": event_id,
            "type": str(event),
            "occurred_at": _iso(entry.created_at),
            "incident": incident,
            "data": data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _url(incident: Incident) -> str:
    return settings.SITE_URL + incident.get_absolute_url()


def incident_fields(incident: Incident) -> dict:
    """What every hook may know of an incident it may see: no description, impact, logs, notes,
    resolution summary or names (those stay in Beacon, behind its sign-in)."""
    return {
        "id": incident.pk,
        "reference": incident.ref,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "service": {"slug": incident.service.slug, "name": incident.service.name},
        "type": incident.type.slug,
        "public": incident.public,
        "restricted": incident.restricted,
        "source": incident.source,
        "occurred_at": _iso(incident.occurred_at),
        "reported_at": _iso(incident.reported_at),
        "acknowledged_at": _iso(incident.acknowledged_at),
        "mitigated_at": _iso(incident.mitigated_at),
        "resolved_at": _iso(incident.resolved_at),
        "closed_at": _iso(incident.closed_at),
        "url": _url(incident),
    }


def restricted_fields(incident: Incident) -> dict:
    """All a hook without `include_restricted` learns of a restricted incident (as Slack does)."""
    return {
        "id": incident.pk,
        "reference": incident.ref,
        "severity": incident.severity,
        "restricted": True,
        "url": _url(incident),
    }


def event_data(event: str, entry: TimelineEntry) -> dict:
    """The event's own part of the body."""
    data = entry.data or {}
    if event in (Event.STATUS_CHANGED, Event.SEVERITY_CHANGED):
        return {"old": data.get("old"), "new": data.get("new")}
    if event == Event.STATUS_UPDATE_POSTED:
        return {"update_id": data.get("update_id"), "message": entry.text, "phase": data.get("phase") or ""}
    if event == Event.REVIEW_PUBLISHED:
        # The review's page, by the URL's name (nothing here imports reviews).
        url = settings.SITE_URL + reverse("reviews:detail", args=[entry.incident.ref])
        return {"review_id": data.get("review_id"), "url": url}
    return {}
