"""Maintenance windows and silences, made and cancelled: one transaction each, with its audit
log entry (django-auditlog, incidents/audit.py), its timeline entry where an incident is
concerned, and the stakeholders' emails through the outbox.

The pages, the API and the alert group panel's "silence for 2 h" all come here; the forms and
the API's schemas only read and check what people typed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial
from typing import TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.timezone import localtime, now
from django_tasks import task

from incidents import tasking, workflow
from incidents.models import (
    AlertGroup,
    Incident,
    MaintenanceWindow,
    Service,
    Silence,
    StatusSubscriber,
    Subscription,
    TimelineEntry,
    matchers_text,
)
from incidents.notifications import outbox

C = TypeVar("C", MaintenanceWindow, Silence)

logger = logging.getLogger(__name__)
Kind = TimelineEntry.Kind

# "Silence this alert for 2 h" on the alert group panel.
QUICK_SILENCE = dt.timedelta(hours=2)
# Labels that say which alert a group's alert is, and not when or how loud: what a quick silence matches.
IDENTIFYING = ("alertname", "service", "job", "instance")


class Refused(Exception):
    """The change cannot be made (already cancelled, already over); str() says why."""


# --- paging -----------------------------------------------------------------------------


def window_for(incident: Incident, at: dt.datetime | None = None) -> MaintenanceWindow | None:
    """The window in force for the incident's service at `at` (one query), or None."""
    return MaintenanceWindow.objects.active(at).filter(services=incident.service_id).order_by("end", "pk").first()


def suppress_page(incident: Incident, user, *, step: int, reason: str, kind: str, at=None) -> TimelineEntry | None:
    """Called first thing by `oncall.paging.page`: when the incident's service is in maintenance,
    record on the timeline that `user` was not paged (and why), and return that entry instead of
    paging. None: page as usual.

    A `notification` entry, which tells nobody (outbox) and the status page never shows.
    """
    window = window_for(incident, at)
    if window is None:
        return None
    until = localtime(window.end, incident_zone())
    return workflow.record(
        incident,
        by=None,
        kind=Kind.NOTIFICATION,
        text=f"Not paged during maintenance: {user.get_full_name() or user.get_username()} ({reason}). "
        f"{incident.service.name} is in maintenance until {until:%Y-%m-%d %H:%M %Z} (window #{window.pk}).",
        suppressed_page=kind,
        user_id=user.pk,
        step=step,
        maintenance_window=window.pk,
    )


def incident_zone() -> ZoneInfo:
    """The site's time zone: timeline entries and stakeholders' emails are read by many people."""
    return ZoneInfo(settings.TIME_ZONE)


# --- windows ------------------------------------------------------------------------------


@transaction.atomic
def schedule_window(*, by, services: list[Service], start: dt.datetime, end: dt.datetime, description: str):
    """Create a window (the model's checks first), tell the services' stakeholders once, and arm the
    task that tells them when it ends. The status page shows it from the commit on."""
    window = MaintenanceWindow(start=start, end=end, description=description, created_by=by)
    window.full_clean()
    if not services:
        raise Refused("Choose at least one service.")
    window.save()
    window.services.set(services)
    _tell_stakeholders(window, "scheduled")
    tasking.with_change(partial(_enqueue_end, window.pk, window.end))
    return window


@transaction.atomic
def cancel_window(window: MaintenanceWindow, *, by) -> MaintenanceWindow:
    """Cancel a window that is not over. If it had begun, it ends now: the stakeholders get the
    "ended" email at once (the later task finds it sent); if it had not, they hear it is cancelled."""
    at = now()
    window = _cancel(window, by=by, at=at, ends=lambda w: w.end, name="Maintenance", over="is already over")
    started = window.start <= at
    _tell_stakeholders(window, "ended" if started else "cancelled")
    return window


def _cancel(row: C, *, by, at: dt.datetime, ends: Callable[[C], dt.datetime], name: str, over: str) -> C:
    """`row` (a window or a silence) cancelled by `by` at `at`, under its row lock; Refused when it
    was cancelled already or `ends(row)` is past."""
    row = type(row).objects.select_for_update().get(pk=row.pk)
    if row.cancelled_at is not None:
        raise Refused(f"{name} #{row.pk} was already cancelled.")
    if ends(row) <= at:
        raise Refused(f"{name} #{row.pk} {over}.")
    row.cancelled_at, row.cancelled_by = at, by
    row.save(update_fields=["cancelled_at", "cancelled_by"])
    return row


def _enqueue_end(window_id: int, end: dt.datetime) -> None:
    if not window_ended.get_backend().supports_defer:
        logger.error("Maintenance #%s: end email not scheduled, the task backend cannot defer", window_id)
        return
    tasking.enqueue(window_ended.using(run_after=end), window_id)


# How long after a window's end a lost end task is still worth re-arming: the "it is over" email
# a day late is still news; a week late it is noise.
REARM_WITHIN = dt.timedelta(days=1)


def rearm(*, at: dt.datetime | None = None) -> int:
    """Enqueue again the end task of every window not cancelled that has not ended or ended within
    `REARM_WITHIN`. For the sweeper after a lost task (a killed worker: django-tasks does not
    retry) or a restore, beside `paging.rearm`; safe any time, since the end email's event keys make
    a repeat write nothing. Returns how many were scheduled. One query."""
    at = at or now()
    windows = MaintenanceWindow.objects.filter(cancelled_at__isnull=True, end__gt=at - REARM_WITHIN)
    scheduled = 0
    for pk, end in windows.order_by("end", "pk").values_list("pk", "end"):
        tasking.with_change(partial(_enqueue_end, pk, end))
        scheduled += 1
    return scheduled


@task()
def window_ended(window_id: int) -> str:
    """The delayed task at a window's end: see `finish_window`."""
    return finish_window(window_id)


@transaction.atomic
def finish_window(window_id: int, *, at: dt.datetime | None = None) -> str:
    """Tell the stakeholders that the window ended, once: a duplicate task, or one for a window
    cancelled meanwhile, writes nothing (the outbox's event keys make a repeat harmless)."""
    at = at or now()
    window = MaintenanceWindow.objects.select_for_update().filter(pk=window_id).first()
    if window is None:
        return "gone"
    if window.cancelled_at is not None:
        return "cancelled"
    if window.end > at:
        return "early"  # a task run before its time (a clock step): the end is not here yet
    _tell_stakeholders(window, "ended")
    return "ended"


def stakeholder_addresses(window: MaintenanceWindow) -> list[tuple[str, Subscription | None, StatusSubscriber | None]]:
    """Everyone outside who hears of these services: the services' stakeholder lists and the status
    page's subscribers to any of them or to every service (public services only). One per address."""
    services = [s.pk for s in window.services.all() if s.is_public]
    if not services:
        return []
    found: dict[str, tuple] = {}
    for sub in Subscription.objects.filter(service__in=services).exclude(email="").order_by("pk"):
        found.setdefault(sub.email.lower(), (sub.email.lower(), sub, None))
    subscribers = StatusSubscriber.objects.filter(Q(all_services=True) | Q(services__in=services)).distinct()
    for subscriber in subscribers.order_by("pk"):
        found.setdefault(subscriber.email.lower(), (subscriber.email.lower(), None, subscriber))
    return list(found.values())


SUBJECTS = {
    "scheduled": "Scheduled maintenance: {services}, {start}",
    "ended": "Maintenance finished: {services}",
    "cancelled": "Maintenance cancelled: {services}, {start}",
}


def _tell_stakeholders(window: MaintenanceWindow, what: str) -> int:
    """One email per stakeholder for the window's `what` ("scheduled", "ended", "cancelled"), in
    the caller's transaction. "ended" and "cancelled" share one event key: someone told that it
    was cancelled is never told it ended too."""
    recipients = stakeholder_addresses(window)
    if not recipients:
        return 0
    names = ", ".join(sorted(s.name for s in window.services.all() if s.is_public))
    zone = incident_zone()
    start, end = localtime(window.start, zone), localtime(window.end, zone)
    context = {
        "window": window,
        "what": what,
        "services": names,
        "start": start,
        "end": end,
        "status_url": settings.SITE_URL + reverse("status:index"),
    }
    subject = SUBJECTS[what].format(services=names, start=f"{start:%Y-%m-%d %H:%M %Z}")
    key = f"maintenance:{window.pk}:{'scheduled' if what == 'scheduled' else 'over'}"
    rows = []
    for address, subscription, subscriber in recipients:
        row = outbox.public_email(
            "notifications/maintenance.txt", context, event_key=key, recipient=address, subject=subject
        )
        row.subscription, row.status_subscriber = subscription, subscriber
        rows.append(row)
    return len(outbox.write(rows))


# --- silences ------------------------------------------------------------------------------


@transaction.atomic
def create_silence(
    *, by, matchers: list[dict], expires_at: dt.datetime, comment: str = "", starts_at=None, alert_group=None
) -> Silence:
    """Create a silence (the model's checks first). Made from an alert group, the group's incident
    says so on its timeline."""
    silence = Silence(
        matchers=matchers,
        starts_at=starts_at or now(),
        expires_at=expires_at,
        comment=comment,
        created_by=by,
        alert_group=alert_group,
    )
    silence.full_clean()
    silence.save()
    if alert_group is not None:
        incident = Incident.objects.select_for_update(of=("self",)).get(pk=alert_group.incident_id)
        until = localtime(silence.expires_at, incident_zone())
        workflow.record(
            incident,
            by=by,
            kind=Kind.NOTE,
            text=f"Silenced until {until:%Y-%m-%d %H:%M %Z}: new alerts matching {silence.text} open no "
            f"incident and page nobody (silence #{silence.pk}).",
            silence=silence.pk,
        )
    return silence


def quick_silence(group: AlertGroup, *, by, duration: dt.timedelta = QUICK_SILENCE) -> Silence:
    """ "Silence this alert for 2 h": the labels the group's alerts all share that say which alert it is."""
    labels = _shared_labels(group)
    matchers = [{"name": name, "op": "=", "value": labels[name]} for name in IDENTIFYING if labels.get(name)]
    if not matchers:
        raise Refused("This group's alerts share no alertname, service, job or instance label to match.")
    return create_silence(
        by=by,
        matchers=matchers,
        expires_at=now() + duration,
        comment=f"Silenced from the alert group of INC-{group.incident_id}.",
        alert_group=group,
    )


def _shared_labels(group: AlertGroup) -> dict[str, str]:
    shared: dict[str, str] | None = None
    for labels in group.alerts.values_list("labels", flat=True)[:500]:
        items = {k: v for k, v in labels.items() if k in IDENTIFYING}
        shared = items if shared is None else {k: v for k, v in shared.items() if items.get(k) == v}
    return shared or {}


@transaction.atomic
def cancel_silence(silence: Silence, *, by) -> Silence:
    silence = _cancel(silence, by=by, at=now(), ends=lambda s: s.expires_at, name="Silence", over="has already expired")
    if silence.alert_group_id is not None:
        group = AlertGroup.objects.filter(pk=silence.alert_group_id).only("incident_id").first()
        if group is not None:
            incident = Incident.objects.select_for_update(of=("self",)).get(pk=group.incident_id)
            workflow.record(
                incident,
                by=by,
                kind=Kind.NOTE,
                text=f"Silence #{silence.pk} ({matchers_text(silence.matchers)}) lifted: matching alerts open "
                "incidents again.",
                silence=silence.pk,
            )
    return silence
