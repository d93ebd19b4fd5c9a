"""Update reminders: the lead of an open incident hears when its next public update is due.

`arm_for_entry` (a `workflow.on_entry` listener) schedules a delayed check after each entry
that starts or moves the update clock; the check re-reads the state when it runs, so stale
timers are harmless, and the sweeper's `remind_all_due` catches timers lost with a worker.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils.timezone import now
from django_tasks import task

from incidents import tasking, workflow
from incidents.models import Incident, Notification, StatusUpdate, TimelineEntry
from incidents.notifications.outbox import LOWERED, NEW, PUBLIC_UPDATE, RAISED, event_of, queue_direct, subject_for

Kind = TimelineEntry.Kind

# The events after which the next public update is due: a new incident, an update, a re-grade.
CLOCK_EVENTS = {NEW, PUBLIC_UPDATE, RAISED, LOWERED}


def arm_for_entry(entry: TimelineEntry) -> None:
    """Arm the reminder after an entry that starts or moves the update clock (or a reopen)."""
    event = event_of(entry)
    if event is None:
        return
    if event in CLOCK_EVENTS or (entry.data or {}).get("reopened"):
        # A new incident has no update yet: the clock starts when it was reported.
        anchors = {PUBLIC_UPDATE: entry.created_at, NEW: entry.incident.reported_at}
        arm_reminder(entry.incident, anchor=anchors.get(event))


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
    tasking.with_change(lambda: _enqueue_reminder(incident_id, due))


def _enqueue_reminder(incident_id: int, due) -> None:
    if not reminder_due.get_backend().supports_defer:
        return  # an inline backend cannot wait: the sweeper checks reminders every minute
    tasking.enqueue(reminder_due.using(run_after=due), incident_id)


@task(queue_name="default")
def reminder_due(incident_id: int) -> bool:
    """The delayed check `arm_reminder` schedules (queued by import path: keep the name)."""
    return remind_lead(incident_id)


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
        tasking.with_change(lambda: _enqueue_reminder(incident.pk, due))
    return True


def remind_all_due() -> int:
    """The sweeper's safety net for lost reminder timers: check every open incident of a
    severity with reminders. A bounded set (open Critical/High incidents)."""
    severities = [s for s, minutes in settings.UPDATE_REMINDER_MINUTES.items() if minutes]
    ids = Incident.objects.open().filter(severity__in=severities, lead__isnull=False).values_list("pk", flat=True)
    return sum(1 for pk in list(ids[:500]) if remind_lead(pk))
