"""Every change to an incident's lifecycle: one function per verb.

Each function checks that the user may act (`by=None` means Beacon itself: an alert,
a timer), locks the incident row, checks that the move is allowed from the current
state, makes the change and appends exactly one TimelineEntry, all in one
transaction. Views, the admin, the API and the Alertmanager intake call these;
nothing else writes `status`, the lifecycle timestamps or `lead`.

Illegal moves raise `InvalidTransition` (a message meant for the user) and change
nothing; missing permissions raise `PermissionDenied`.

Every entry records where the action came from in `data["via"]` (web, email, slack, api,
alert): each entry point says it once with `with workflow.via(...)` (the web through
incidents/middleware.py), and `_record` writes it. Entries written by timers (escalations,
reminders) carry none.
"""

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils.timezone import now

from incidents import reference, roles, tasking, typefields
from incidents.access import may_see
from incidents.models import (
    DEFAULT_TYPE_SLUG,
    OPEN_STATUSES,
    TASK_TITLE_MAX,
    AlertGroup,
    Incident,
    IncidentLink,
    IncidentType,
    ResponseRole,
    RoleAssignment,
    Service,
    Severity,
    Status,
    StatusUpdate,
    Subscription,
    Task,
    TimelineEntry,
    plain,
)
from incidents.people import display_name

Kind = TimelineEntry.Kind

# Fields of the report itself; edits to them bump `version` (lost-update protection).
REPORT_FIELDS = [
    "type",
    "title",
    "description",
    "impact",
    "logs",
    "occurred_at",
    "service",
    "severity",
    "custom_fields",
]

# Where the current action came from; set by each entry point with `via(...)`.
VIA_WEB, VIA_EMAIL, VIA_SLACK, VIA_API, VIA_ALERT = "web", "email", "slack", "api", "alert"
VIA_CHOICES = {VIA_WEB, VIA_EMAIL, VIA_SLACK, VIA_API, VIA_ALERT}
_via: contextvars.ContextVar[str | None] = contextvars.ContextVar("beacon_via", default=None)


@contextlib.contextmanager
def via(source: str) -> Iterator[None]:
    """Within this block every timeline entry records `source` as where it came from."""
    if source not in VIA_CHOICES:
        raise ValueError(f"unknown source {source!r}")
    token = _via.set(source)
    try:
        yield
    finally:
        _via.reset(token)


def current_via() -> str | None:
    return _via.get()


# Hooks later parts of Beacon register to react to a committed-with-the-change entry
# (notifications write their rows here, in the same transaction).
_entry_listeners: list[Callable[[TimelineEntry], None]] = []


class InvalidTransition(Exception):
    """The move is not allowed from the incident's current state. `str()` is for the user."""


class Conflict(InvalidTransition):
    """The thing edited (an incident, a review, a runbook's service) changed since the user
    opened it; `current` is its copy as read under the lock, to show the user."""

    def __init__(self, message: str, current):
        super().__init__(message)
        self.current = current


def on_entry(listener: Callable[[TimelineEntry], None]) -> Callable[[TimelineEntry], None]:
    """Register `listener(entry)`, called inside the transaction of every new timeline entry."""
    if listener not in _entry_listeners:
        _entry_listeners.append(listener)
    return listener


def _require(user: PermissionsMixin | None, perm: str) -> None:
    if user is None:
        return
    if not user.has_perm(perm):
        raise PermissionDenied


def _lock(incident: Incident) -> Incident:
    # select_for_update: two responders may press the same button at the same moment.
    # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the lead join.
    return Incident.objects.select_for_update(of=("self",)).select_related("service", "lead").get(pk=incident.pk)


def _record(incident: Incident, *, by, kind: str, text: str = "", **data) -> TimelineEntry:
    source = _via.get()
    if source is not None:
        data.setdefault("via", source)
    entry = TimelineEntry(incident=incident, author=by, kind=kind, text=text, data=data)
    entry.render()
    # One plain INSERT (incidents/models/plain.py): entries are written on every change, alert
    # storms included, and no signal listens to them; the listeners below are their hooks.
    plain.insert(entry)
    for listener in _entry_listeners:
        listener(entry)
    return entry


def _display(user) -> str | None:
    return display_name(user) or None


def _ensure(incident: Incident, *, to: Status, allowed_from: list[Status], refusal: str = "") -> None:
    """Refuse the move unless the (locked) incident is in one of `allowed_from`; checked before any change."""
    if incident.status not in allowed_from:
        raise InvalidTransition(refusal or _refusal(incident, to))


def _move(incident: Incident, *, by, to: Status, text: str = "", **extra) -> TimelineEntry:
    """Save the status change (already checked with `_ensure`) and its one timeline entry."""
    old = incident.status
    incident.status = to
    incident.save()
    return _record(incident, by=by, kind=Kind.STATUS_CHANGE, text=text, old=old, new=to.value, **extra)


def _refusal(incident: Incident, to: Status) -> str:
    current = incident.get_status_display().lower()
    if incident.status == to:
        return f"{incident.ref} is already {current}."
    verbs = {
        Status.ACKNOWLEDGED: "acknowledged",
        Status.MITIGATED: "marked mitigated",
        Status.RESOLVED: "resolved",
        Status.CLOSED: "closed",
    }
    return f"{incident.ref} is {current}, so it cannot be {verbs.get(to, to.label.lower())}."


# --- creating and editing the report ---------------------------------------------------


@transaction.atomic
def report(
    *,
    by,
    title: str,
    description: str,
    impact: str,
    occurred_at: datetime,
    severity: str,
    service: Service,
    logs: str = "",
    source: str = Incident.Source.WEB,
    public: bool = False,
    type: IncidentType | None = None,
    restricted: bool = False,
    custom_fields: dict | None = None,
    follow: bool = True,
) -> Incident:
    """Store a new incident (reference INC-<pk> at once) and its `reported` timeline entry.

    `custom_fields` are the type's field values, already validated (incidents/typefields.py).
    `type` defaults to Downtime. The incident is restricted (need-to-know) when asked, or when
    its type is restricted by default; a restricted incident is never public. The type's response
    checklist becomes the incident's task list (the one entry says how many tasks). The reporter
    follows the incident from the start unless `follow` is False (they hear its public updates
    and its resolution; Unfollow on the incident page stops it).
    """
    # The tasks the new incident asks for (its escalation, its update reminder, deliveries) in one
    # INSERT at the end (incidents/tasking.py).
    with tasking.together():
        _require(by, roles.ADD_INCIDENT)
        if severity not in Severity.values:
            raise InvalidTransition(f"Unknown severity {severity!r}.")
        if type is None:
            type = default_type()
        restricted = restricted or type.restricted_by_default
        incident = Incident.objects.create(
            type=type,
            restricted=restricted,
            title=title,
            description=description,
            impact=impact,
            logs=logs,
            occurred_at=occurred_at,
            severity=severity,
            service=service,
            source=source,
            reporter=by,
            public=public and not restricted,
            reported_at=now(),
            custom_fields=custom_fields or {},
        )
        data: dict[str, Any] = {"severity": severity, "source": source, "type": type.name}
        tasks = copy_checklist(incident, type)
        if tasks:
            data["tasks"] = tasks
        if restricted:
            data["restricted"] = True
        if follow and by is not None and by.has_perm(roles.FOLLOW_INCIDENT):
            Subscription.objects.create(user=by, incident=incident)
            data["reporter_follows"] = True
        _record(incident, by=by, kind=Kind.REPORTED, **data)
    return incident


def default_type() -> IncidentType:
    """Downtime (or, if a manager removed it, the first type)."""
    found = reference.kept(
        "default_type",
        lambda: IncidentType.objects.filter(slug=DEFAULT_TYPE_SLUG).first() or IncidentType.objects.first(),
    )
    if found is None:
        raise InvalidTransition("There is no incident type; a manager must add one in the admin.")
    return found


def may_edit(user, incident: Incident) -> bool:
    if user.has_perm(roles.CHANGE_INCIDENT):
        return True
    return (
        user.has_perm(roles.EDIT_OWN_REPORT) and incident.reporter_id == user.pk and incident.status == Status.REPORTED
    )


@transaction.atomic
def edit(incident: Incident, *, by, version: int, changes: dict) -> Incident:
    """Apply `changes` to the report's fields if nobody changed it since `version`.

    Raises Conflict (with the current incident) when the version is stale; records one
    `edit` entry listing each changed field's old and new value.
    """
    incident = _lock(incident)
    if by is not None and not may_edit(by, incident):
        raise PermissionDenied
    if incident.version != version:
        raise Conflict(
            f"{incident.ref} was changed since you opened it. Its current values are shown below; "
            "make your changes again.",
            incident,
        )
    diff = {}
    old_type = incident.type
    for field, value in changes.items():
        if field not in REPORT_FIELDS:
            raise ValueError(f"{field} is not a field of the report")
        old = getattr(incident, field)
        if field == "custom_fields":
            continue
        if old != value:
            diff[field] = [_plain(old), _plain(value)]
            setattr(incident, field, value)
    if "custom_fields" in changes and changes["custom_fields"] != incident.custom_fields:
        # Each custom field by its label, as people read it (a person by name, not by id).
        for label, values in typefields.changes(
            old_type, incident.type, incident.custom_fields, changes["custom_fields"]
        ).items():
            diff[label] = values
        incident.custom_fields = changes["custom_fields"]
    if not diff:
        return incident
    incident.version = F("version") + 1
    incident.save()
    incident.refresh_from_db()
    _record(incident, by=by, kind=Kind.EDIT, changes=diff)
    return incident


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Service | IncidentType):
        return value.name
    return value


# --- the lifecycle ---------------------------------------------------------------------


@transaction.atomic
def acknowledge(incident: Incident, *, by) -> Incident:
    """reported → acknowledged. The acknowledger becomes lead when there is none."""
    _require(by, roles.RESPOND_INCIDENT)
    incident = _lock(incident)
    _ensure(incident, to=Status.ACKNOWLEDGED, allowed_from=[Status.REPORTED])
    incident.acknowledged_at = now()
    extra: dict[str, Any] = {}
    if incident.lead_id is None and by is not None:
        incident.lead = by
        extra["lead"] = _display(by)
    _move(incident, by=by, to=Status.ACKNOWLEDGED, **extra)
    return incident


@transaction.atomic
def mitigate(incident: Incident, *, by, text: str = "", source_resolved_at: datetime | None = None) -> Incident:
    """reported/acknowledged → mitigated: users are no longer hurt, the cause may remain.

    The Alertmanager intake calls this with `by=None` and `source_resolved_at` when every
    alert of the incident has resolved.
    """
    _require(by, roles.RESPOND_INCIDENT)
    incident = _lock(incident)
    _ensure(incident, to=Status.MITIGATED, allowed_from=[Status.REPORTED, Status.ACKNOWLEDGED])
    incident.mitigated_at = now()
    if source_resolved_at is not None:
        incident.source_resolved_at = source_resolved_at
    _move(incident, by=by, to=Status.MITIGATED, text=text)
    return incident


@transaction.atomic
def reactivate(incident: Incident, *, by, reason: str) -> Incident:
    """mitigated → acknowledged (or reported, if nobody acknowledged it): the mitigation did not
    hold, e.g. the alert group fired again. The mitigation is cleared; the timeline keeps it."""
    _require(by, roles.RESPOND_INCIDENT)
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why the incident is active again.")
    incident = _lock(incident)
    to = Status.ACKNOWLEDGED if incident.acknowledged_at else Status.REPORTED
    _ensure(
        incident,
        to=to,
        allowed_from=[Status.MITIGATED],
        refusal=f"{incident.ref} is {incident.get_status_display().lower()}; "
        "only a mitigated incident can become active again.",
    )
    previous = {
        "mitigated_at": incident.mitigated_at.isoformat() if incident.mitigated_at else None,
        "source_resolved_at": incident.source_resolved_at.isoformat() if incident.source_resolved_at else None,
    }
    incident.mitigated_at = None
    incident.source_resolved_at = None
    _move(incident, by=by, to=to, text=reason, reactivated=True, **previous)
    return incident


@transaction.atomic
def resolve(incident: Incident, *, by, summary: str, confirmed: bool) -> Incident:
    """An open incident → resolved, confirmed by a person.

    Needs a resolution summary and the explicit confirmation that the application works
    as expected and users are no longer affected; who confirmed and when are kept. Refused while
    a required task (its type's checklist) is open, naming them. Every way to resolve (the page,
    the API, Slack, email links) comes through here.
    """
    if by is None:
        raise PermissionDenied("Only a person can confirm a resolution.")
    _require(by, roles.RESPOND_INCIDENT)
    summary = summary.strip()
    if not summary:
        raise InvalidTransition("A resolution summary is required.")
    if not confirmed:
        raise InvalidTransition("Confirm that the application works as expected and users are no longer affected.")
    incident = _lock(incident)
    _ensure(incident, to=Status.RESOLVED, allowed_from=OPEN_STATUSES)
    blocking = list(
        incident.tasks.filter(required=True, done_at__isnull=True)
        .order_by("position", "pk")
        .values_list("title", flat=True)
    )
    if blocking:
        raise InvalidTransition(resolve_blocked(blocking))
    incident.resolved_at = now()
    incident.resolution_summary = summary
    incident.resolution_confirmed_by = by
    _move(incident, by=by, to=Status.RESOLVED, text=summary, confirmed=True)
    return incident


@transaction.atomic
def close(incident: Incident, *, by) -> Incident:
    """resolved → closed (managers): nothing more to do on it."""
    _require(by, roles.CLOSE_INCIDENT)
    incident = _lock(incident)
    _ensure(incident, to=Status.CLOSED, allowed_from=[Status.RESOLVED])
    for check in _close_checks:
        check(incident)
    incident.closed_at = now()
    _move(incident, by=by, to=Status.CLOSED)
    return incident


# Other apps add conditions for closing (the review policy); each raises InvalidTransition.
_close_checks: list[Callable[[Incident], None]] = []


def on_close_check(check: Callable[[Incident], None]) -> Callable[[Incident], None]:
    if check not in _close_checks:
        _close_checks.append(check)
    return check


@transaction.atomic
def reopen(incident: Incident, *, by, reason: str) -> Incident:
    """resolved → acknowledged, with a reason. The resolution is cleared; the timeline keeps it."""
    _require(by, roles.RESPOND_INCIDENT)
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why the incident is reopened.")
    incident = _lock(incident)
    _ensure(
        incident,
        to=Status.ACKNOWLEDGED,
        allowed_from=[Status.RESOLVED],
        refusal=f"{incident.ref} is {incident.get_status_display().lower()}; only a resolved incident can be reopened.",
    )
    resolved_at = incident.resolved_at.isoformat() if incident.resolved_at else None
    previous = {"resolved_at": resolved_at, "resolution_summary": incident.resolution_summary}
    incident.resolved_at = None
    incident.resolution_summary = ""
    incident.resolution_confirmed_by = None
    incident.acknowledged_at = incident.acknowledged_at or now()
    _move(incident, by=by, to=Status.ACKNOWLEDGED, text=reason, reopened=True, **previous)
    return incident


# --- the user-impact window (error budgets) -----------------------------------------------


@transaction.atomic
def adjust_impact(
    incident: Incident, *, by, started_at: datetime | None, ended_at: datetime | None, reason: str
) -> Incident:
    """Correct when users were hurt (the error budget's window, incidents/reports/queries.py): an
    empty bound goes back to its default (occurred_at; mitigated_at). Needs a reason; one entry."""
    _require(by, roles.RESPOND_INCIDENT)
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why the impact window changes.")
    incident = _lock(incident)
    start = started_at or incident.occurred_at
    end = ended_at or incident.mitigated_at or incident.resolved_at
    if end is not None and end <= start:
        raise InvalidTransition("The impact must end after it starts.")
    if (started_at, ended_at) == (incident.impact_started_at, incident.impact_ended_at):
        raise InvalidTransition("The impact window is unchanged.")

    def iso(value):
        return value.isoformat() if value else None

    previous = {"from": [iso(incident.impact_started_at), iso(incident.impact_ended_at)]}
    incident.impact_started_at, incident.impact_ended_at = started_at, ended_at
    incident.save(update_fields=["impact_started_at", "impact_ended_at", "updated_at"])
    _record(
        incident, by=by, kind=TimelineEntry.Kind.IMPACT, text=reason, to=[iso(started_at), iso(ended_at)], **previous
    )
    return incident


# --- severity and lead -----------------------------------------------------------------


@transaction.atomic
def change_severity(incident: Incident, *, by, severity: str, reason: str = "") -> Incident:
    _require(by, roles.RESPOND_INCIDENT)
    if severity not in Severity.values:
        raise InvalidTransition(f"Unknown severity {severity!r}.")
    incident = _lock(incident)
    if not incident.is_open:
        raise InvalidTransition(f"{incident.ref} is {incident.get_status_display().lower()}; its severity is final.")
    old = incident.severity
    if old == severity:
        raise InvalidTransition(f"{incident.ref} is already {Severity(severity).label}.")
    incident.severity = severity
    incident.version = F("version") + 1
    incident.save()
    incident.refresh_from_db()
    raised = Severity(severity).rank < Severity(old).rank
    _record(incident, by=by, kind=Kind.SEVERITY_CHANGE, text=reason.strip(), old=old, new=severity, raised=raised)
    return incident


@transaction.atomic
def set_lead(incident: Incident, *, by, lead) -> Incident:
    """Make `lead` (a user, or None) the engineer in charge."""
    _require(by, roles.RESPOND_INCIDENT)
    if lead is not None and not lead.has_perm(roles.RESPOND_INCIDENT):
        raise InvalidTransition(f"{_display(lead)} is not a responder and cannot lead an incident.")
    incident = _lock(incident)
    if incident.status == Status.CLOSED:
        raise InvalidTransition(f"{incident.ref} is closed.")
    if incident.lead_id == (lead.pk if lead else None):
        who = _display(lead) if lead else "nobody"
        raise InvalidTransition(f"{incident.ref} is already led by {who}.")
    old = _display(incident.lead)
    incident.lead = lead
    incident.save()
    _record(
        incident,
        by=by,
        kind=Kind.LEAD_CHANGE,
        old=old,
        new=_display(lead),
        new_id=lead.pk if lead else None,
    )
    return incident


def take(incident: Incident, *, by) -> Incident:
    """ "Take it": make me the lead."""
    return set_lead(incident, by=by, lead=by)


# --- notes -----------------------------------------------------------------------------


def may_add_note(user, incident: Incident) -> bool:
    if user.has_perm(roles.ADD_TIMELINEENTRY):
        return True
    return user.has_perm(roles.NOTE_OWN_INCIDENT) and incident.reporter_id == user.pk


@transaction.atomic
def add_note(incident: Incident, *, by, text: str) -> TimelineEntry:
    """Append a note (markdown). Notes are never edited; a correction is a new note."""
    if by is not None and not may_add_note(by, incident):
        raise PermissionDenied
    text = text.strip()
    if not text:
        raise InvalidTransition("A note cannot be empty.")
    incident = _lock(incident)
    return _record(incident, by=by, kind=Kind.NOTE, text=text)


# --- communication ---------------------------------------------------------------------


@transaction.atomic
def post_update(incident: Incident, *, by, message: str, public: bool, phase: str = "") -> StatusUpdate:
    """Post a status update (public: for affected users and outside stakeholders; else team only).
    `phase` names the update template it started from (Identified…), if any.

    Appends one `status_update` entry whose data carries the update's id and visibility, so
    listeners (notifications) can tell public from internal without another query.
    """
    _require(by, roles.RESPOND_INCIDENT)
    message = message.strip()
    if not message:
        raise InvalidTransition("A status update cannot be empty.")
    incident = _lock(incident)
    if incident.status == Status.CLOSED:
        raise InvalidTransition(f"{incident.ref} is closed.")
    update = StatusUpdate.objects.create(incident=incident, author=by, message=message, public=public, phase=phase)
    data = {"phase": phase} if phase else {}
    _record(incident, by=by, kind=Kind.STATUS_UPDATE, text=message, update_id=update.pk, public=public, **data)
    return update


# --- incidents that belong together ------------------------------------------------------


def _lock_pair(incident: Incident, other: Incident) -> tuple[Incident, Incident]:
    """Both incidents locked, the lower id first (two people linking the same pair from either
    side at once wait for each other instead of deadlocking)."""
    first, second = sorted([incident, other], key=lambda i: i.pk)
    locked = {first.pk: _lock(first)}
    locked[second.pk] = _lock(second)
    return locked[incident.pk], locked[other.pk]


def _named(incident: Incident, on: Incident, *, start: bool = True) -> str:
    """`incident` as the timeline of `on` may name it (need-to-know: not a restricted one's ref)."""
    if incident.restricted and not on.restricted:
        return "A restricted incident" if start else "a restricted incident"
    return incident.ref


def _link_text(label: str, incident: Incident, other: Incident) -> str:
    # A restricted incident's reference is need-to-know too: an unrestricted incident's timeline
    # only says that a restricted one is linked.
    if other.restricted and not incident.restricted:
        return f"{label} a restricted incident."
    return f"{label} {other.ref}."


@transaction.atomic
def link(incident: Incident, *, other: Incident, kind: str, by) -> IncidentLink:
    """Link two incidents (`kind`: caused by, same root cause, related), read from `incident`'s
    side: "INC-9 caused by INC-7". One `link` entry on each. The caller finds `other` among the
    incidents `by` may see."""
    _require(by, roles.RESPOND_INCIDENT)
    if kind not in IncidentLink.Kind.values:
        raise InvalidTransition("Choose how the incidents are related.")
    if other.pk == incident.pk:
        raise InvalidTransition("An incident cannot be linked to itself.")
    incident, other = _lock_pair(incident, other)
    pair = Q(from_incident=incident, to_incident=other) | Q(from_incident=other, to_incident=incident)
    existing = IncidentLink.objects.filter(pair).first()
    if existing is not None:
        raise InvalidTransition(
            f"{incident.ref} is already linked to {other.ref} ({existing.label_from(incident.pk).lower()})."
        )
    found = IncidentLink.objects.create(from_incident=incident, to_incident=other, kind=kind, created_by=by)
    for one, another in ((incident, other), (other, incident)):
        label = found.label_from(one.pk)
        _record(
            one,
            by=by,
            kind=Kind.LINK,
            text=_link_text(label, one, another),
            action="linked",
            link_id=found.pk,
            label=label,
            other_id=another.pk,
        )
    return found


@transaction.atomic
def unlink(incident: Incident, *, link_id: int, by) -> None:
    """Remove a link of `incident` (one `link` entry on each side)."""
    _require(by, roles.RESPOND_INCIDENT)
    found = (
        IncidentLink.objects.filter(Q(from_incident=incident) | Q(to_incident=incident), pk=link_id)
        .select_related("from_incident", "to_incident")
        .first()
    )
    if found is None:
        raise InvalidTransition(f"{incident.ref} has no such link.")
    other = found.other(incident.pk)
    incident, other = _lock_pair(incident, other)
    labels = {one.pk: found.label_from(one.pk) for one in (incident, other)}
    found.delete()
    for one, another in ((incident, other), (other, incident)):
        _record(
            one,
            by=by,
            kind=Kind.LINK,
            text="No longer linked: " + _link_text(labels[one.pk].lower(), one, another),
            action="unlinked",
            label=labels[one.pk],
            other_id=another.pk,
        )


# --- one outage, one incident ---------------------------------------------------------------


@transaction.atomic
def mark_duplicate(incident: Incident, *, primary: Incident, by, reason: str = "") -> Incident:
    """Close `incident` into `primary`: the same outage reported twice. One `duplicate` entry on
    each. Its followers, its reporter and `by` follow the primary instead (they are told, by the
    entry on the duplicate, `by` aside); its alert group moves to the primary when the primary has none (else the
    intake adds the group's new alerts to the primary, alerts/intake.py). Undone by
    `undo_duplicate`. The caller finds `primary` among the incidents `by` may see."""
    _require(by, roles.RESPOND_INCIDENT)
    reason = reason.strip()
    if primary.pk == incident.pk:
        raise InvalidTransition("An incident cannot be a duplicate of itself.")
    incident, primary = _lock_pair(incident, primary)
    if incident.duplicate_of_id:
        raise InvalidTransition(f"{incident.ref} is already a duplicate of INC-{incident.duplicate_of_id}.")
    if primary.duplicate_of_id:
        raise InvalidTransition(
            f"{primary.ref} is itself a duplicate of INC-{primary.duplicate_of_id}: "
            f"mark {incident.ref} a duplicate of INC-{primary.duplicate_of_id}."
        )
    if incident.status == Status.CLOSED:
        raise InvalidTransition(f"{incident.ref} is closed.")
    if primary.status == Status.CLOSED:
        raise InvalidTransition(f"{primary.ref} is closed: choose an incident that is still open or resolved.")
    followers = set(Subscription.objects.filter(incident=incident).values_list("user_id", flat=True))
    # Its reporter, and whoever says it is a duplicate: they care about that outage.
    for person in (incident.reporter, by):
        if person is not None and person.has_perm(roles.FOLLOW_INCIDENT):
            followers.add(person.pk)
    followers.discard(None)
    moved_group = None
    if not AlertGroup.objects.filter(incident=primary).exists():
        moved_group = AlertGroup.objects.filter(incident=incident).values_list("pk", flat=True).first()
    named = _named(primary, incident, start=False)
    text = f"Duplicate of {named}: closed into it. Its followers follow {named} now."
    # Written first, while the followers still follow this incident: they hear where it went.
    _record(
        incident,
        by=by,
        kind=Kind.DUPLICATE,
        text=text + (f"\n\n{reason}" if reason else ""),
        action="marked",
        primary_id=primary.pk,
        primary=named,
        previous_status=incident.status,
        followers=sorted(followers),
        moved_group=moved_group,
    )
    incident.duplicate_of = primary
    incident.status = Status.CLOSED
    incident.closed_at = now()
    incident.save()
    Subscription.objects.filter(incident=incident).delete()
    already = set(Subscription.objects.filter(incident=primary).values_list("user_id", flat=True))
    Subscription.objects.bulk_create(Subscription(user_id=pk, incident=primary) for pk in followers - already)
    if moved_group is not None:
        AlertGroup.objects.filter(pk=moved_group).update(incident=primary)
    _record(
        primary,
        by=by,
        kind=Kind.DUPLICATE,
        text=f"{_named(incident, primary)} was marked a duplicate of this incident; its followers follow this one now."
        + (f"\n\n{reason}" if reason else ""),
        action="marked",
        duplicate_id=incident.pk,
        followers_added=len(followers - already),
    )
    return incident


@transaction.atomic
def undo_duplicate(incident: Incident, *, by, reason: str) -> Incident:
    """Take `incident` out of its primary, with a reason: back to the status it had, its alert
    group back if it moved, its followers following it again (they keep following the primary)."""
    _require(by, roles.RESPOND_INCIDENT)
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why it is not a duplicate after all.")
    primary_id = Incident.objects.filter(pk=incident.pk).values_list("duplicate_of_id", flat=True).first()
    if not primary_id:
        raise InvalidTransition(f"{incident.ref} is not a duplicate.")
    incident, primary = _lock_pair(incident, Incident(pk=primary_id))
    if incident.duplicate_of_id != primary.pk:
        raise InvalidTransition(f"{incident.ref} changed meanwhile: look again.")
    marked = (
        TimelineEntry.objects.filter(incident=incident, kind=Kind.DUPLICATE, data__action="marked")
        .order_by("-created_at", "-pk")
        .first()
    )
    data = marked.data if marked is not None else {}
    incident.duplicate_of = None
    incident.status = data.get("previous_status") or Status.ACKNOWLEDGED
    incident.closed_at = None
    incident.save()
    group = data.get("moved_group")
    if group and not AlertGroup.objects.filter(incident=incident).exists():
        AlertGroup.objects.filter(pk=group, incident=primary).update(incident=incident)
    followers = set(data.get("followers") or [])
    already = set(Subscription.objects.filter(incident=incident).values_list("user_id", flat=True))
    Subscription.objects.bulk_create(Subscription(user_id=pk, incident=incident) for pk in followers - already)
    _record(
        incident,
        by=by,
        kind=Kind.DUPLICATE,
        text=f"Not a duplicate of {_named(primary, incident, start=False)} after all: {reason}",
        action="undone",
        primary_id=primary.pk,
        # What the emails about this entry may call the primary (outbox._headline): never a
        # restricted incident's reference on an unrestricted one.
        primary=_named(primary, incident, start=False),
        status=incident.status,
    )
    _record(
        primary,
        by=by,
        kind=Kind.DUPLICATE,
        text=f"{_named(incident, primary)} is no longer a duplicate of this incident: {reason}",
        action="undone",
        duplicate_id=incident.pk,
    )
    return incident


@transaction.atomic
def set_public(incident: Incident, *, by, public: bool) -> Incident:
    """Show the incident on the public status page, or hide it."""
    _require(by, roles.RESPOND_INCIDENT)
    incident = _lock(incident)
    if incident.public == public:
        raise InvalidTransition(f"{incident.ref} is already {'public' if public else 'internal'}.")
    if public and incident.restricted:
        raise InvalidTransition(f"{incident.ref} is restricted (need-to-know); lift the restriction first.")
    incident.public = public
    incident.save()
    _record(incident, by=by, kind=Kind.VISIBILITY, old=not public, new=public)
    return incident


# --- need-to-know ----------------------------------------------------------------------
# Who may see a restricted incident is incidents/access.py's rule; these change its inputs.


def may_restrict(user, incident: Incident) -> bool:
    return user.has_perm(roles.RESPOND_INCIDENT) or user.has_perm(roles.VIEW_RESTRICTED)


def may_lift(user, incident: Incident) -> bool:
    return user.has_perm(roles.VIEW_RESTRICTED)


@transaction.atomic
def restrict(incident: Incident, *, by, reason: str) -> Incident:
    """Make the incident need-to-know, with a reason. It leaves the status page at once."""
    if by is not None and not may_restrict(by, incident):
        raise PermissionDenied
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why the incident is restricted.")
    incident = _lock(incident)
    if incident.restricted:
        raise InvalidTransition(f"{incident.ref} is already restricted.")
    was_public = incident.public
    incident.restricted = True
    incident.public = False
    incident.save()
    _record(incident, by=by, kind=Kind.ACCESS, text=reason, restricted=True, was_public=was_public)
    return incident


@transaction.atomic
def lift_restriction(incident: Incident, *, by, reason: str) -> Incident:
    """Let everyone with a role see the incident again (the Security group and managers), with a reason."""
    if by is not None and not may_lift(by, incident):
        raise PermissionDenied
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why the restriction is lifted.")
    incident = _lock(incident)
    if not incident.restricted:
        raise InvalidTransition(f"{incident.ref} is not restricted.")
    incident.restricted = False
    incident.save()
    _record(incident, by=by, kind=Kind.ACCESS, text=reason, restricted=False)
    return incident


@transaction.atomic
def add_participant(incident: Incident, *, by, user) -> Incident:
    """Add `user` by name: they see the incident while it is restricted (and are told so)."""
    if by is not None and not may_restrict(by, incident):
        raise PermissionDenied
    if not user.is_active or not user.has_perm(roles.VIEW_INCIDENT):
        raise InvalidTransition(f"{_display(user)} has no role in Beacon; a manager must give them one first.")
    incident = _lock(incident)
    if incident.participants.filter(pk=user.pk).exists():
        raise InvalidTransition(f"{_display(user)} is already a participant of {incident.ref}.")
    incident.participants.add(user)
    _record(incident, by=by, kind=Kind.ACCESS, participant_added=_display(user), participant_id=user.pk)
    return incident


@transaction.atomic
def remove_participant(incident: Incident, *, by, user) -> Incident:
    """Take `user` off the participants (a reporter or lead still sees the incident as such)."""
    if by is not None and not may_restrict(by, incident):
        raise PermissionDenied
    incident = _lock(incident)
    if not incident.participants.filter(pk=user.pk).exists():
        raise InvalidTransition(f"{_display(user)} is not a participant of {incident.ref}.")
    incident.participants.remove(user)
    _record(incident, by=by, kind=Kind.ACCESS, participant_removed=_display(user), participant_id=user.pk)
    return incident


# --- response roles and tasks ---------------------------------------------------------
# Beside the lead: named roles (incidents/models/response.py) and the task list the type's
# checklist started. Each change locks the incident row (two responders at once: the second
# sees the first's change and is refused or told of the conflict) and writes one entry; the
# person given a role or a task hears of it through that entry (notifications/outbox.py).

# `expected=ANY`: the caller saw no particular holder (the API's tick; the admin).
ANY: Any = object()


def copy_checklist(incident: Incident, incident_type: IncidentType) -> int:
    """The type's checklist as the new incident's tasks (two queries, one with the items kept:
    incidents/reference.py); returns how many."""
    items = reference.kept(
        ("checklist", incident_type.pk), lambda: list(incident_type.checklist.order_by("position", "pk"))
    )
    # Plain INSERTs (models/plain.py): every new incident, alert storms included; no signal listens to tasks.
    plain.insert(
        *(
            Task(incident=incident, title=item.title, required=item.required, position=(n + 1) * 10, item=item)
            for n, item in enumerate(items)
        )
    )
    return len(items)


def resolve_blocked(titles: list[str]) -> str:
    """ "Resolve blocked: 2 required tasks open: Rotate credentials, Notify legal." """
    count = len(titles)
    tasks = "task" if count == 1 else "tasks"
    return f"Resolve blocked: {count} required {tasks} open: {', '.join(titles)}."


def may_manage_response(user) -> bool:
    """Assign roles, add, assign and tick tasks: responders and managers."""
    return user.has_perm(roles.RESPOND_INCIDENT)


def _ensure_changeable(incident: Incident) -> None:
    if incident.status == Status.CLOSED:
        raise InvalidTransition(f"{incident.ref} is closed; its roles and tasks are final.")


def _ensure_may_hold(user, incident: Incident, what: str) -> None:
    """A role or task goes only to someone with a role in Beacon who may see the incident. For a
    restricted one that is a refusal, never a silent grant: adding a participant is its own
    decision, with its own entry (docs/response.md)."""
    if not user.is_active or not user.has_perm(roles.VIEW_INCIDENT):
        raise InvalidTransition(f"{_display(user)} has no role in Beacon; a manager must give them one first.")
    if not may_see(user, incident):
        raise InvalidTransition(
            f"{_display(user)} may not see {incident.ref}: it is restricted (need-to-know). "
            f"Add them as a participant first, then give them {what}."
        )


@transaction.atomic
def assign_role(incident: Incident, *, by, role: ResponseRole, user, expected=ANY) -> RoleAssignment | None:
    """Give `role` on the incident to `user` (None: nobody holds it any more); one `role` entry,
    which tells the new holder. `expected` is the holder's id the caller last saw (None: vacant):
    when someone changed it since, Conflict, and nothing changes."""
    _require(by, roles.RESPOND_INCIDENT)
    incident = _lock(incident)
    _ensure_changeable(incident)
    current = RoleAssignment.objects.select_related("user").filter(incident=incident, role=role).first()
    current_id = current.user_id if current else None
    if expected is not ANY and expected != current_id:
        holder = _display(current.user) if current else "nobody"
        raise Conflict(
            f"{role.name} of {incident.ref} changed since you opened the page: {holder} holds it now. "
            "Choose again if you still mean it.",
            current,
        )
    if user is None and current is None:
        raise InvalidTransition(f"Nobody is {role.name} of {incident.ref}.")
    if user is not None and current_id == user.pk:
        raise InvalidTransition(f"{_display(user)} is already {role.name} of {incident.ref}.")
    if user is not None:
        _ensure_may_hold(user, incident, f"the role {role.name}")
    if current is not None:
        current.delete()
    assignment = None
    if user is not None:
        assignment = RoleAssignment.objects.create(incident=incident, role=role, user=user, assigned_by=by)
    _record(
        incident,
        by=by,
        kind=Kind.ROLE,
        role=role.name,
        role_slug=role.slug,
        old=_display(current.user) if current else None,
        old_id=current_id,
        new=_display(user),
        assignee_id=user.pk if user is not None else None,
    )
    return assignment


def _locked_task(incident: Incident, task: Task | int) -> Task:
    """The task, read again under the incident's lock (a task of another incident: InvalidTransition)."""
    pk = task.pk if isinstance(task, Task) else task
    found = Task.objects.select_related("assignee", "done_by").filter(pk=pk, incident=incident).first()
    if found is None:
        raise InvalidTransition(f"{incident.ref} has no such task.")
    return found


@transaction.atomic
def add_task(incident: Incident, *, by, title: str) -> Task:
    """Add a task to the incident's list (after the others); one `task` entry."""
    _require(by, roles.RESPOND_INCIDENT)
    title = " ".join(title.split())
    if not title:
        raise InvalidTransition("A task needs a title.")
    if len(title) > TASK_TITLE_MAX:
        raise InvalidTransition(f"A task's title has at most {TASK_TITLE_MAX} characters.")
    incident = _lock(incident)
    _ensure_changeable(incident)
    last = incident.tasks.aggregate(last=Max("position"))["last"] or 0
    task = Task.objects.create(incident=incident, title=title, position=last + 10, created_by=by)
    _record(incident, by=by, kind=Kind.TASK, action="added", task=title, task_id=task.pk)
    return task


@transaction.atomic
def tick_task(incident: Incident, *, by, task: Task | int, done: bool) -> Task:
    """Tick a task done (`done=True`) or open it again; one `task` entry. Ticking what is already
    ticked (two people at once) is refused, naming who ticked it. A required task of a resolved
    incident stays ticked: reopen the incident first."""
    _require(by, roles.RESPOND_INCIDENT)
    incident = _lock(incident)
    _ensure_changeable(incident)
    task = _locked_task(incident, task)
    if done and task.done:
        when = task.done_at.strftime("%H:%M UTC") if task.done_at else ""
        raise InvalidTransition(f"“{task.title}” was already ticked by {_display(task.done_by) or 'someone'} {when}.")
    if not done and not task.done:
        raise InvalidTransition(f"“{task.title}” is not ticked.")
    if not done and task.required and incident.status == Status.RESOLVED:
        raise InvalidTransition(
            f"{incident.ref} is resolved and “{task.title}” is required: reopen the incident first."
        )
    task.done_at = now() if done else None
    task.done_by = by if done else None
    task.save(update_fields=["done_at", "done_by"])
    _record(
        incident,
        by=by,
        kind=Kind.TASK,
        action="ticked" if done else "unticked",
        task=task.title,
        task_id=task.pk,
        required=task.required,
    )
    return task


@transaction.atomic
def assign_task(incident: Incident, *, by, task: Task | int, user, expected=ANY) -> Task:
    """Give the task to `user` (None: to nobody); one `task` entry, which tells them. `expected`
    works as for roles: the assignee the caller saw (their id, or None)."""
    _require(by, roles.RESPOND_INCIDENT)
    incident = _lock(incident)
    _ensure_changeable(incident)
    task = _locked_task(incident, task)
    if expected is not ANY and expected != task.assignee_id:
        raise Conflict(
            f"“{task.title}” was given to {_display(task.assignee) or 'nobody'} since you opened the page. "
            "Choose again if you still mean it.",
            task,
        )
    if (user.pk if user is not None else None) == task.assignee_id:
        holder = f"with {_display(user)}" if user is not None else "unassigned"
        raise InvalidTransition(f"“{task.title}” is already {holder}.")
    if user is not None:
        _ensure_may_hold(user, incident, "this task")
    old = task.assignee
    task.assignee = user
    task.save(update_fields=["assignee"])
    _record(
        incident,
        by=by,
        kind=Kind.TASK,
        action="assigned",
        task=task.title,
        task_id=task.pk,
        old=_display(old),
        new=_display(user),
        assignee_id=user.pk if user is not None else None,
    )
    return task


def record(incident: Incident, *, by, kind: str, text: str = "", **data) -> TimelineEntry:
    """Append an entry for an event that changes no field (alerts, notifications, escalations).

    Must be called inside the caller's transaction, with the incident already locked.
    """
    return _record(incident, by=by, kind=kind, text=text, **data)
