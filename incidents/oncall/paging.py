"""On call, against the database: who answers for a service, assignment, paging, escalation, handoffs.

Paging is decoupled from delivery. Every page is a timeline entry, written with the
incident row locked, in the transaction of the change that causes it:

* ``kind=page`` — the on-call engineer was made lead of a new incident and is told (step 0);
* ``kind=escalation`` — nobody acknowledged in time, so someone else is told (step ≥ 1).

Both carry ``data = {"user_id": <paged user>, "step": n, "reason": "...", "level": ...}``.
`page` queues the paged person's email and Slack message in the same transaction
(`outbox.queue_page`); the outbox delivers them. Nothing here sends anything.

Escalations and handoff summaries run as django-tasks delayed tasks (``run_after``),
enqueued when the transaction commits. Each task re-reads the state under a row lock when
it runs, so a stale or duplicated task does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q
from django.urls import reverse
from django.utils.timezone import now
from django_tasks import task

from incidents import roles, workflow
from incidents.maintenance import rules as maintenance
from incidents.models import (
    Handoff,
    Incident,
    Override,
    Profile,
    Rotation,
    RotationMember,
    Service,
    Status,
    TimelineEntry,
)
from incidents.notifications import outbox
from incidents.oncall import schedule as oncall
from incidents.people import display_name

logger = logging.getLogger(__name__)
Kind = TimelineEntry.Kind
RESPOND = roles.RESPOND_INCIDENT
ESCALATION_QUEUE = "escalations"
PAGE_KINDS = (Kind.PAGE, Kind.ESCALATION)
# How far ahead "next on call" and the next handoff are looked for.
HORIZON = dt.timedelta(weeks=8)


# --- schedules from the database ------------------------------------------------------


def schedule_of(rotation: Rotation) -> oncall.Schedule:
    """The rotation as a pure Schedule. Uses prefetched `memberships` and `overrides` when present."""
    members = tuple(m.user for m in rotation.memberships.all() if m.user.is_active)
    covers = tuple(
        oncall.Cover(o.user, o.start, o.end, rank=o.pk, covered_user=o.covered_user)
        for o in rotation.overrides.all()
        if o.user.is_active
    )
    return oncall.Schedule(
        kind=rotation.shift_kind,
        hours=rotation.shift_hours,
        handoff_time=rotation.handoff_time,
        zone=rotation.zoneinfo,
        start_date=rotation.start_date,
        members=members,
        overrides=covers,
        source=rotation,
    )


def rotations_for_schedules(*, since: dt.datetime | None = None):
    """Rotations with everything a schedule needs: four queries, however many rotations and members.

    Overrides that ended before `since` change nothing from then on and are left out. People
    come with their profile, so paging one of them needs no further query (`slack_member_id`).
    """
    overrides = Override.objects.select_related("user__profile", "covered_user").order_by("start", "pk")
    if since is not None:
        overrides = overrides.filter(end__gt=since - HORIZON)
    members = RotationMember.objects.select_related("user__profile").order_by("position")
    return (
        Rotation.objects.select_related("team")
        .prefetch_related(
            "services",
            Prefetch("memberships", queryset=members),
            Prefetch("overrides", queryset=overrides),
        )
        .order_by("name", "pk")
    )


def load_schedules(*, at: dt.datetime | None = None) -> list[oncall.Schedule]:
    return [schedule_of(r) for r in rotations_for_schedules(since=at or now())]


@dataclass(frozen=True)
class OnCall:
    """Who answers for something at an instant: the rotation, the current shift, the next one."""

    schedule: oncall.Schedule
    current: oncall.Shift | None
    next: oncall.Shift | None

    @property
    def rotation(self) -> Rotation:
        return self.schedule.source

    @property
    def user(self):
        return self.current.user if self.current else None


class Directory:
    """Every rotation loaded once; answers "who is on call" for any number of services.

    Pages that show on-call people for many services build one Directory (four queries)
    and ask it per service, instead of querying per service or per incident.
    """

    def __init__(self, *, at: dt.datetime | None = None, schedules: list[oncall.Schedule] | None = None):
        self.at = at or now()
        self.schedules = schedules if schedules is not None else load_schedules(at=self.at)
        self._by_service: dict[int, list[oncall.Schedule]] = {}
        self._answers: dict[int, OnCall] = {}
        self.default = None
        for schedule in self.schedules:
            if schedule.source.is_default:
                self.default = schedule
            for service in schedule.source.services.all():
                self._by_service.setdefault(service.pk, []).append(schedule)

    def on_call(self, schedule: oncall.Schedule) -> OnCall:
        # Several services share a rotation: compute each rotation's answer once.
        key = id(schedule)
        if key not in self._answers:
            self._answers[key] = OnCall(
                schedule, schedule.on_call(self.at), schedule.next_shift(self.at, horizon=HORIZON)
            )
        return self._answers[key]

    def for_service(self, service_id: int) -> OnCall | None:
        """The rotation that answers for the service now: the first (by name) of its own
        rotations with someone on call, else the default rotation, else the first of its own."""
        own = [self.on_call(s) for s in self._by_service.get(service_id, [])]
        for answer in own:
            if answer.user is not None:
                return answer
        if self.default is not None:
            return self.on_call(self.default)
        return own[0] if own else None


def on_call_for_service(service: Service, *, at: dt.datetime | None = None) -> OnCall | None:
    """Who answers for one service (assignment, escalation, the service page): only its own
    rotations and the default are loaded, not every rotation (still four queries)."""
    at = at or now()
    rotations = rotations_for_schedules(since=at).filter(Q(services=service) | Q(is_default=True)).distinct()
    return Directory(at=at, schedules=[schedule_of(r) for r in rotations]).for_service(service.pk)


def service_board(*, at: dt.datetime | None = None) -> list[tuple[Service, OnCall | None]]:
    """Every service with who is on call for it now and next: five queries in all (the dashboard)."""
    directory = Directory(at=at)
    return [(service, directory.for_service(service.pk)) for service in Service.objects.order_by("name")]


def _shift(shift: oncall.Shift | None) -> dict | None:
    if shift is None:
        return None
    return {"user": shift.user, "start": shift.start, "end": shift.end, "override": shift.override}


def board(at: dt.datetime | None = None) -> list[dict]:
    """service_board() as plain values, for surfaces outside this area (the API, through
    incidents/panels.py): per service, the answering rotation's name and its current and next shift."""
    return [
        {
            "service": service,
            "rotation": answer.rotation.name if answer else None,
            "now": _shift(answer.current) if answer else None,
            "next": _shift(answer.next) if answer else None,
        }
        for service, answer in service_board(at=at)
    ]


def shifts_of_user(user, *, start: dt.datetime, end: dt.datetime) -> list[tuple[Rotation, oncall.Shift]]:
    """The user's shifts in every rotation overlapping [start, end), in time order (the calendar feed)."""
    result = []
    for schedule in load_schedules(at=start):
        for shift in schedule.timeline(start, end):
            if shift.user.pk == user.pk:
                result.append((schedule.source, shift))
    return sorted(result, key=lambda pair: (pair[1].start, pair[0].name))


def user_on_call(
    user, *, at: dt.datetime | None = None
) -> list[tuple[Rotation, oncall.Shift | None, oncall.Shift | None]]:
    """For the profile: per rotation the user belongs to or covers in, their current shift (or None)
    and their next one. Empty when they are in no rotation."""
    at = at or now()
    result = []
    for schedule in load_schedules(at=at):
        current = schedule.on_call(at)
        mine_now = current if current and current.user.pk == user.pk else None
        upcoming = next((s for s in schedule.timeline(at, at + HORIZON) if s.start > at and s.user.pk == user.pk), None)
        member = any(m.pk == user.pk for m in schedule.members)
        if mine_now or upcoming or member:
            result.append((schedule.source, mine_now, upcoming))
    return result


def slack_member_id(user) -> str:
    """The user's Slack member id ("U024BE7LH"), or "" when they have not set one."""
    try:
        return user.profile.slack_member_id
    except Profile.DoesNotExist:
        return ""


# --- paging ---------------------------------------------------------------------------


def page(incident: Incident, user, *, step: int, reason: str, kind: str = Kind.PAGE, **extra) -> TimelineEntry:
    """Record that `user` is paged about `incident` and tell them at once, in this transaction:
    an email, and Slack with their member id (a deactivated user is told nothing). The incident
    must be locked by the caller. During a maintenance window of its service nobody is paged:
    the timeline says so instead (incidents/maintenance/rules.py)."""
    suppressed = maintenance.suppress_page(incident, user, step=step, reason=reason, kind=kind)
    if suppressed is not None:
        return suppressed
    verb = "Paged" if kind == Kind.PAGE else f"Escalation {step}: paged"
    entry = workflow.record(
        incident,
        by=None,
        kind=kind,
        text=f"{verb} {display_name(user)} — {reason}",
        user_id=user.pk,
        step=step,
        reason=reason,
        **extra,
    )
    if user.is_active:
        outbox.queue_page(entry, user, slack_member_id=slack_member_id(user))
    return entry


def _may_lead(user) -> bool:
    return user is not None and user.is_active and user.has_perm(RESPOND)


def assign_on_call(entry: TimelineEntry) -> None:
    """A new incident gets its service's on-call engineer as lead, who is paged at once.

    Runs inside `workflow.report`'s transaction (form, API and Alertmanager alike): one
    `lead_change` entry for the assignment, one `page` entry for telling them, and the
    first escalation scheduled when the severity asks for one.
    """
    if entry.kind != Kind.REPORTED:
        return
    incident = entry.incident
    if incident.lead_id is None:
        answer = on_call_for_service(incident.service)
        user = answer.user if answer else None
        if user is not None and not _may_lead(user):
            logger.warning("%s: %s is on call but may not respond; nobody assigned", incident.ref, user)
            user = None
        if user is not None:
            locked = workflow.set_lead(incident, by=None, lead=user)
            # `report` returns this same object: let it show the lead without another query.
            incident.lead = locked.lead
            reason = f"on call for {incident.service.name} ({answer.rotation.name})"
            page(locked, user, step=0, reason=reason)
    schedule_escalation(incident, step=1, after=incident.reported_at)


def escalate_on_raised_severity(entry: TimelineEntry) -> None:
    """An unacknowledged incident raised to an urgent severity starts (or keeps) escalating."""
    if entry.kind != Kind.SEVERITY_CHANGE or not entry.data.get("raised"):
        return
    incident = entry.incident
    if incident.status != Status.REPORTED:
        return
    done = incident.timeline.filter(kind=Kind.ESCALATION).values_list("data__step", flat=True)
    schedule_escalation(incident, step=max([s for s in done if isinstance(s, int)], default=0) + 1, after=now())


# --- escalation -----------------------------------------------------------------------


def escalation_delay(severity: str) -> dt.timedelta | None:
    """How long an incident of this severity may stay unacknowledged; None: it never escalates."""
    minutes = settings.ONCALL_ESCALATION_MINUTES.get(str(severity))
    return dt.timedelta(minutes=minutes) if minutes else None


def schedule_escalation(incident: Incident, *, step: int, after: dt.datetime) -> dt.datetime | None:
    """Enqueue escalation `step` for when the severity's delay has passed after `after`, once the
    transaction commits (a rolled-back report schedules nothing). Returns the due time."""
    delay = escalation_delay(incident.severity)
    if delay is None or step > settings.ONCALL_ESCALATION_STEPS:
        return None
    due = after + delay
    transaction.on_commit(partial(_enqueue_later, escalate, due, incident.pk, step))
    return due


def _enqueue_later(task_, due: dt.datetime, *args) -> None:
    if not task_.get_backend().supports_defer:
        # ImmediateBackend would page everybody at once; refuse loudly instead.
        logger.error("%s not scheduled: the task backend cannot run tasks later (set TASKS_BACKEND)", task_.name)
        return
    task_.using(run_after=due).enqueue(*args)


def managers():
    return (
        get_user_model()
        .objects.filter(groups__name=roles.MANAGER, is_active=True)
        .distinct()
        .order_by("pk")
        .select_related("profile")
    )


@task(queue_name=ESCALATION_QUEUE)
def escalate(incident_id: int, step: int) -> str:
    """The delayed escalation task: see `escalation_step`."""
    return escalation_step(incident_id, step)


@transaction.atomic
def escalation_step(incident_id: int, step: int, *, at: dt.datetime | None = None) -> str:
    """Escalation `step` of an incident, if it is still unacknowledged. Returns what it did.

    Step 1 pages the next person in the rotation after the on-call engineer; the step after
    that (or step 1, when there is no next person) pages the managers; later steps page
    everyone paged so far again, up to ``ONCALL_ESCALATION_STEPS``. Each paged person is one
    ``escalation`` entry. It re-checks everything under the incident's row lock, so a task
    that runs after an acknowledgement, a downgrade or a duplicate task does nothing.
    """
    at = at or now()
    incident = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("service", "lead")
        .filter(pk=incident_id)
        .first()
    )
    if incident is None:
        return "gone"
    if incident.status != Status.REPORTED:
        return "acknowledged"
    if escalation_delay(incident.severity) is None:
        return "not urgent"
    if step > settings.ONCALL_ESCALATION_STEPS:
        return "limit"
    pages = list(incident.timeline.filter(kind__in=PAGE_KINDS).values_list("data", flat=True))
    if any(isinstance(d.get("step"), int) and d["step"] >= step and d.get("level") for d in pages):
        return "done"

    paged = [d["user_id"] for d in pages if isinstance(d.get("user_id"), int)]
    if incident.lead_id and incident.lead_id not in paged:
        paged.insert(0, incident.lead_id)
    levels = {d.get("level") for d in pages}
    User = get_user_model()
    targets, level = [], ""
    if "next" not in levels and "managers" not in levels:
        answer = on_call_for_service(incident.service, at=at)
        if answer is not None:
            candidate = answer.schedule.next_in_line(at, exclude=[*paged, *([answer.user] if answer.user else [])])
            if candidate is not None and _may_lead(candidate):
                targets, level = [candidate], "next"
                reason = f"next in {answer.rotation.name}; not acknowledged"
    if not targets and "managers" not in levels:
        everyone = list(managers())
        targets = [m for m in everyone if m.pk not in paged] or everyone
        level, reason = "managers", "managers; not acknowledged"
    if not targets:
        targets = list(User.objects.filter(pk__in=paged, is_active=True).order_by("pk").select_related("profile"))
        level, reason = "repeat", "still not acknowledged"
    if not targets:
        workflow.record(
            incident, by=None, kind=Kind.ESCALATION, text="Escalation: nobody to page.", step=step, level="nobody"
        )
        return "nobody"

    minutes = int(escalation_delay(incident.severity).total_seconds() // 60)
    reason = f"{reason} after {minutes * step} min"
    for user in targets:
        page(incident, user, step=step, reason=reason, kind=Kind.ESCALATION, level=level)
    schedule_escalation(incident, step=step + 1, after=at)
    return level


def rearm() -> tuple[int, int]:
    """Schedule again the next escalation of every unacknowledged urgent incident and the next
    handoff of every rotation. Returns (incidents, rotations) scheduled.

    For after a lost task (a killed worker leaves its task RUNNING for ever: django-tasks does not retry)
    or a restore. Safe to run any time: a step or handoff already done is not done again.
    """
    at = now()
    urgent = [s for s, minutes in settings.ONCALL_ESCALATION_MINUTES.items() if minutes]
    pages = TimelineEntry.objects.filter(kind__in=PAGE_KINDS).order_by("created_at", "pk")
    unacknowledged = Incident.objects.filter(status=Status.REPORTED, severity__in=urgent).prefetch_related(
        Prefetch("timeline", queryset=pages, to_attr="page_entries")
    )
    incidents = 0
    for incident in unacknowledged.order_by("pk"):
        steps = [p.data.get("step") for p in incident.page_entries if p.kind == Kind.ESCALATION]
        after = incident.page_entries[-1].created_at if steps else incident.reported_at
        step = max([s for s in steps if isinstance(s, int)], default=0) + 1
        incidents += schedule_escalation(incident, step=step, after=after) is not None
    rotations = sum(_schedule_handoff(s, after=at) is not None for s in load_schedules(at=at))
    return incidents, rotations


# --- handoffs -------------------------------------------------------------------------


def handoff_summary(rotation: Rotation, *, incoming, at: dt.datetime) -> tuple[object, str, str]:
    """(recipient, subject, text) telling the incoming engineer what they inherit at a handoff:
    the open incidents of the services the rotation answers for, most severe first, of those the
    incoming engineer may see (restricted ones only if they are allowed: incidents/access.py). Two queries."""
    incidents = Incident.objects.visible_to(incoming).open().select_related("service", "lead")
    if rotation.is_default:
        covered = Service.objects.filter(rotations__isnull=False, rotations__is_default=False)
        incidents = incidents.exclude(service__in=covered)
    else:
        incidents = incidents.filter(service__rotations=rotation)
    shown = list(incidents.order_by("severity_rank", "reported_at", "pk")[:50])
    local = at.astimezone(rotation.zoneinfo)
    count = len(shown)
    subject = f"You are on call for {rotation.name}: {count if count < 50 else '50+'} open incident(s)"
    lines = [
        f"Hello {display_name(incoming)},",
        "",
        f"You are on call for {rotation.name} from {local:%Y-%m-%d %H:%M %Z}.",
    ]
    if not shown:
        lines.append("There are no open incidents. All quiet.")
    else:
        lines += ["", "Open incidents you inherit:", ""]
        for incident in shown:
            lead = display_name(incident.lead, "no lead")
            url = settings.SITE_URL + reverse("incidents:detail", kwargs={"ref": incident.ref})
            lines.append(
                f"- {incident.ref} [{incident.get_severity_display()}, {incident.get_status_display()}, {lead}] "
                f"{incident.service.name}: {incident.title}\n  {url}"
            )
        if count == 50:
            lines.append(f"\nAnd maybe more: {settings.SITE_URL}{reverse('incidents:list')}?open=true")
    return incoming, subject, "\n".join(lines) + "\n"


def send_handoff_summary(recipient, subject: str, text: str, *, key: str) -> None:
    """Queue the handoff summary email in the caller's transaction (the outbox delivers it).

    The summary is also kept on the `Handoff` row (admin: On call → Handoffs).
    """
    logger.info("Handoff summary for %s: %s", recipient, subject)
    outbox.queue_direct(
        event_key=key, user=recipient, subject=subject, template="notifications/handoff.txt", context={"text": text}
    )


def schedule_next_handoff(rotation: Rotation, *, after: dt.datetime | None = None) -> dt.datetime | None:
    """Enqueue the handoff task for the rotation's next handoff after `after`, on commit.

    Call it whenever a rotation or its overrides change; older tasks for handoffs that no
    longer exist find that out and stop, and duplicates for one handoff run once.
    """
    after = after or now()
    rotation = rotations_for_schedules(since=after).get(pk=rotation.pk)
    return _schedule_handoff(schedule_of(rotation), after=after)


def _schedule_handoff(schedule: oncall.Schedule, *, after: dt.datetime) -> dt.datetime | None:
    found = schedule.handoffs(after, after + HORIZON)
    if not found:
        return None
    upcoming = found[0]
    transaction.on_commit(partial(_enqueue_later, handoff, upcoming.at, schedule.source.pk, upcoming.at.isoformat()))
    return upcoming.at


@task()
def handoff(rotation_id: int, at: str) -> str:
    """The delayed handoff task: see `run_handoff`."""
    return run_handoff(rotation_id, dt.datetime.fromisoformat(at))


@transaction.atomic
def run_handoff(rotation_id: int, at: dt.datetime) -> str:
    """Summarise the handoff at `at` for the incoming engineer, once, then schedule the next one.

    Does nothing when the schedule no longer hands off at `at` (it was edited; the edit
    scheduled its own task) or when this handoff was already summarised.
    """
    rotation = rotations_for_schedules(since=at).filter(pk=rotation_id).first()
    if rotation is None:
        return "gone"
    schedule = schedule_of(rotation)
    match = next((h for h in schedule.handoffs(at - dt.timedelta(microseconds=1), at) if h.at == at), None)
    if match is None:
        return "stale"
    recipient, subject, text = handoff_summary(rotation, incoming=match.incoming, at=at)
    try:
        with transaction.atomic():
            Handoff.objects.create(
                rotation=rotation, at=at, incoming=match.incoming, outgoing=match.outgoing, subject=subject, text=text
            )
    except IntegrityError:
        return "done"
    send_handoff_summary(recipient, subject, text, key=f"handoff:{rotation.pk}:{at.isoformat()}")
    # The schedule just loaded is the one in force: no need to load the rotation again.
    _schedule_handoff(schedule, after=at)
    return "sent"
