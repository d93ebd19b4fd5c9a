"""On call, against the database: who answers for a service, assignment, paging, escalation, handoffs.

Paging is decoupled from delivery. Every page is a timeline entry, written with the
incident row locked, in the transaction of the change that causes it:

* ``kind=page`` — the on-call engineer was made lead of a new incident and is told (step 0);
* ``kind=escalation`` — nobody acknowledged in time, so someone else is told (step ≥ 1).

Both carry ``data = {"user_id": <paged user>, "step": n, "reason": "...", "level": ...}``;
escalations also ``"ladder"`` (0, then one more per reassignment), ``"policy"`` (its name) and
``"channels"`` (the page plan's labels), or ``"unreachable": true`` for a person with no channel
that works (not paged). What each step does comes from the service's escalation policy
(incidents/models/escalation.py), read when the step runs.
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

from incidents import choices, reference, roles, tasking, workflow
from incidents.maintenance import rules as maintenance
from incidents.models import (
    EscalationPolicy,
    EscalationStep,
    Handoff,
    Incident,
    Override,
    Profile,
    Rotation,
    RotationMember,
    Service,
    Status,
    TeamMembership,
    TimelineEntry,
)
from incidents.notifications import outbox
from incidents.notifications.rules import page_plan
from incidents.oncall import schedule as oncall
from incidents.people import display_name

logger = logging.getLogger(__name__)
Kind = TimelineEntry.Kind
RESPOND = roles.RESPOND_INCIDENT
ESCALATION_QUEUE = "escalations"
PAGE_KINDS = (Kind.PAGE, Kind.ESCALATION)
# How far ahead "next on call" and the next handoff are looked for.
HORIZON = dt.timedelta(weeks=8)
# The wait before a step with no delay of its own, for a severity without one in
# ONCALL_ESCALATION_MINUTES (the policy form refuses that; this covers a setting changed since).
FALLBACK_DELAY = dt.timedelta(minutes=15)


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


# What a kept copy (the cache) holds of a person: a name to show, never a password hash or a token.
PERSON_FIELDS = ("username", "first_name", "last_name", "is_active")


def _not_kept(*relations: str) -> list[str]:
    """For defer(): every field of the person each of `relations` is, but PERSON_FIELDS and the key."""
    fields = [f.name for f in get_user_model()._meta.concrete_fields if not f.primary_key]
    return [f"{relation}__{name}" for relation in relations for name in fields if name not in PERSON_FIELDS]


def rotations_for_schedules(*, since: dt.datetime | None = None, to_keep: bool = False):
    """Rotations with everything a schedule needs: four queries, however many rotations and members.

    Overrides that ended before `since` change nothing from then on and are left out. People
    come with their profile, so paging one of them needs no further query (`slack_member_id`);
    `to_keep`: with their names only instead, for a copy kept in the cache (`service_board`).
    """
    person = "user" if to_keep else "user__profile"
    overrides = Override.objects.select_related(person, "covered_user").order_by("start", "pk")
    if since is not None:
        overrides = overrides.filter(end__gt=since - HORIZON)
    members = RotationMember.objects.select_related(person).order_by("position")
    if to_keep:
        overrides = overrides.defer(*_not_kept("user", "covered_user"))
        members = members.defer(*_not_kept("user"))
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
    rotations and the default are loaded, not every rotation (four queries; none in an alert
    delivery that kept them, incidents/reference.py)."""
    at = at or now()

    def schedules() -> list[oncall.Schedule]:
        rotations = rotations_for_schedules(since=at).filter(Q(services=service) | Q(is_default=True)).distinct()
        return [schedule_of(r) for r in rotations]

    # Kept per process for alert deliveries (incidents/reference.py): a kept copy holds overrides
    # that ended since it was read, which change nothing later; any new one is a change.
    return Directory(at=at, schedules=reference.kept(("on call", service.pk), schedules)).for_service(service.pk)


BOARD_CACHE = "oncall-board"


def service_board(*, at: dt.datetime | None = None) -> list[tuple[Service, OnCall | None]]:
    """Every service with who is on call for it now and next (the dashboard, refreshed every 15
    seconds by every responder; the API). The rotations with their members and overrides, and the
    services, come from the cache (incidents/choices.py, dropped by any change to them: this
    area's ready()): no query on most requests. Who is on call is worked out for `at` every time,
    so a handoff shows on time; an override a minute old is still loaded (overrides are kept for
    HORIZON after they end)."""
    at = at or now()
    schedules, services = choices.cached(
        BOARD_CACHE,
        lambda: (
            [schedule_of(r) for r in rotations_for_schedules(since=at, to_keep=True)],
            list(Service.objects.order_by("name").only("name", "slug")),
        ),
    )
    directory = Directory(at=at, schedules=schedules)
    return [(service, directory.for_service(service.pk)) for service in services]


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
    first escalation step of the service's policy scheduled when it escalates the severity.
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
    """An unacknowledged incident raised to a severity its policy escalates starts (or keeps)
    escalating, from the step after the last one done."""
    if entry.kind != Kind.SEVERITY_CHANGE or not entry.data.get("raised"):
        return
    incident = entry.incident
    if incident.status != Status.REPORTED:
        return
    pages, ladder = escalation_state(incident)
    schedule_escalation(incident, step=last_step(pages, ladder) + 1, after=now(), ladder=ladder)


def restart_on_reassign(entry: TimelineEntry) -> None:
    """Someone made another person lead of an unacknowledged incident: the escalation starts
    again for the new lead. They are paged (unless they took it themselves), the steps already
    scheduled for the old lead are superseded, and step 1 of a new ladder is scheduled.

    Only a person's reassignment counts: the on-call assignment of a new incident (by nobody)
    has its own page and first step (`assign_on_call`)."""
    if entry.kind != Kind.LEAD_CHANGE or entry.author_id is None or not entry.data.get("new_id"):
        return
    incident = entry.incident
    if incident.status != Status.REPORTED:
        return
    policy = policy_for(incident.service)
    if policy is None or not policy.escalates(incident.severity):
        return
    # This reassignment is counted: its entry is written before the listeners run.
    _, ladder = escalation_state(incident)
    lead = incident.lead
    if lead is not None and lead.pk != entry.author_id:
        page(incident, lead, step=0, reason=f"made lead by {display_name(entry.author)}", ladder=ladder)
    schedule_escalation(incident, step=1, after=now(), ladder=ladder, policy=policy)


# --- escalation -----------------------------------------------------------------------
#
# A service's escalation policy (incidents/models/escalation.py) is a list of steps run
# `repeat + 1` times: escalation step k (1, 2, …) is the policy's step (k - 1) mod n. The task
# for step k reads the policy when it runs, so an edit applies from an incident's next step.
# Each reassignment starts a new "ladder" (0, 1, …): tasks of an older ladder do nothing.


def _steps(*, to_keep: bool = False) -> Prefetch:
    # A copy kept in the cache holds the step's person by name only.
    steps = EscalationStep.objects.select_related("rotation", "user" if to_keep else "user__profile")
    if to_keep:
        steps = steps.defer(*_not_kept("user"))
    return Prefetch("steps", queryset=steps.order_by("position", "pk"))


def _policies(*, to_keep: bool = False):
    return EscalationPolicy.objects.select_related("team").prefetch_related(_steps(to_keep=to_keep))


def policy_for(service: Service) -> EscalationPolicy | None:
    """The service's own policy, else the default one, with its steps: two queries."""
    wanted = Q(is_default=True)
    if service.escalation_policy_id:
        wanted |= Q(pk=service.escalation_policy_id)
    found = {p.pk: p for p in _policies().filter(wanted)}
    own = found.get(service.escalation_policy_id) if service.escalation_policy_id else None
    return own or next((p for p in found.values() if p.is_default), None)


POLICIES_CACHE = "escalation-policies"


def policy_summary(service: Service) -> EscalationPolicy | None:
    """The service's policy (else the default) with its steps, from the cache (choices.cached,
    dropped by any change to a policy or a step): which policy it is, whether it escalates a
    severity and when its first step is due, for the incident page and for scheduling a new
    incident's first step. A step that runs never trusts it: `escalation_step` loads the policy
    under the incident's row lock (`policy_for`), so an edit applies from the next step."""
    policies = choices.cached(POLICIES_CACHE, lambda: {p.pk: p for p in _policies(to_keep=True).order_by("pk")})
    own = policies.get(service.escalation_policy_id) if service.escalation_policy_id else None
    return own or next((p for p in policies.values() if p.is_default), None)


def step_delay(step: EscalationStep, severity: str) -> dt.timedelta:
    """The wait before `step`: its own delay, else the severity's in ONCALL_ESCALATION_MINUTES,
    else FALLBACK_DELAY."""
    if step.delay_minutes is not None:
        return dt.timedelta(minutes=step.delay_minutes)
    minutes = settings.ONCALL_ESCALATION_MINUTES.get(str(severity))
    return dt.timedelta(minutes=minutes) if minutes else FALLBACK_DELAY


def ladder_length(policy: EscalationPolicy) -> int:
    return len(policy.steps.all()) * (policy.repeat + 1)


def policy_step(policy: EscalationPolicy, step: int) -> EscalationStep | None:
    """The policy's step that escalation step `step` (1, 2, …) runs, or None past the end."""
    steps = list(policy.steps.all())
    if step < 1 or step > len(steps) * (policy.repeat + 1):
        return None
    return steps[(step - 1) % len(steps)]


LADDER_KINDS = (*PAGE_KINDS, Kind.LEAD_CHANGE)


def reassigned(kind: str, author_id: int | None, data: dict) -> bool:
    """A person made someone lead: each such entry starts a new ladder."""
    return kind == Kind.LEAD_CHANGE and author_id is not None and bool(data.get("new_id"))


def ladder_state(rows) -> tuple[list[dict], int]:
    """From (kind, author_id, data) of an incident's page, escalation and lead-change entries:
    the pages' data and the current ladder (how many times a person reassigned it)."""
    rows = list(rows)
    pages = [data for kind, _, data in rows if kind in PAGE_KINDS]
    return pages, sum(1 for row in rows if reassigned(*row))


def escalation_state(incident: Incident) -> tuple[list[dict], int]:
    """`ladder_state` of one incident: one query."""
    return ladder_state(incident.timeline.filter(kind__in=LADDER_KINDS).values_list("kind", "author_id", "data"))


def last_step(pages: list[dict], ladder: int) -> int:
    """The last escalation step done in `ladder` (0: none)."""
    return max(
        (
            d["step"]
            for d in pages
            if isinstance(d.get("step"), int) and d.get("ladder", 0) == ladder and d.get("level")
        ),
        default=0,
    )


def schedule_escalation(
    incident: Incident,
    *,
    step: int,
    after: dt.datetime,
    ladder: int = 0,
    policy: EscalationPolicy | None = None,
    at_once: bool = False,
) -> dt.datetime | None:
    """Enqueue escalation `step` for when its delay has passed after `after` (`at_once`: at
    `after`), once the transaction commits (a rolled-back report schedules nothing). Returns the
    due time, or None when the service's policy does not escalate the severity or has no such step."""
    # A new incident's first step is scheduled from the kept policy; the step re-reads it when it runs.
    policy = policy if policy is not None else policy_summary(incident.service)
    if policy is None or not policy.escalates(incident.severity):
        return None
    rung = policy_step(policy, step)
    if rung is None:
        return None
    due = after if at_once else after + step_delay(rung, incident.severity)
    args = (incident.pk, step) if ladder == 0 else (incident.pk, step, ladder)
    tasking.with_change(partial(_enqueue_later, escalate, due, *args))
    return due


def _enqueue_later(task_, due: dt.datetime, *args) -> None:
    if not task_.get_backend().supports_defer:
        # ImmediateBackend would page everybody at once; refuse loudly instead.
        logger.error("%s not scheduled: the task backend cannot run tasks later (set TASKS_BACKEND)", task_.name)
        return
    tasking.enqueue(task_.using(run_after=due), *args)


def managers():
    return (
        get_user_model()
        .objects.filter(groups__name=roles.MANAGER, is_active=True)
        .distinct()
        .order_by("pk")
        .select_related("profile")
    )


def policy_managers(policy: EscalationPolicy) -> list:
    """ "The managers" of a policy: its team's managers, else (no team, or a team without one)
    everyone with the Manager role."""
    if policy.team_id:
        found = [
            m.user
            for m in TeamMembership.objects.filter(team_id=policy.team_id, is_manager=True, user__is_active=True)
            .select_related("user__profile")
            .order_by("user_id")
        ]
        if found:
            return found
    return list(managers())


def _schedule_for(rung: EscalationStep, service: Service | None, at: dt.datetime, schedules) -> oncall.Schedule | None:
    """The schedule a rotation step reads: its own rotation, else the one answering for the
    service. From `schedules` (already loaded: the preview, the panel) or the database (4 queries)."""
    if schedules is None:
        if rung.rotation_id is None:
            if service is None:
                return None
            answer = on_call_for_service(service, at=at)
            return answer.schedule if answer else None
        rotation = rotations_for_schedules(since=at).filter(pk=rung.rotation_id).first()
        return schedule_of(rotation) if rotation else None
    if rung.rotation_id is not None:
        return next((s for s in schedules if s.source.pk == rung.rotation_id), None)
    if service is None:
        return None
    answer = Directory(at=at, schedules=schedules).for_service(service.pk)
    return answer.schedule if answer else None


def step_targets(
    rung: EscalationStep,
    *,
    service: Service | None,
    at: dt.datetime,
    lead_id: int | None = None,
    schedules: list[oncall.Schedule] | None = None,
    managers_: list | None = None,
) -> list:
    """Whom `rung` pages at `at`, for an incident of `service` led by `lead_id`, in order
    (active people only; a rotation's "next in line" skips the on-call and the lead). Given the
    loaded `schedules` and `managers_`, it runs no query (the preview asks it for every step)."""
    Target = EscalationStep.Target
    if rung.target == Target.USER:
        return [rung.user] if rung.user.is_active else []
    if rung.target == Target.MANAGERS:
        return managers_ if managers_ is not None else policy_managers(rung.policy)
    schedule = _schedule_for(rung, service, at, schedules)
    if schedule is None:
        return []
    if rung.target == Target.EVERYONE:
        return list(schedule.members)
    shift = schedule.on_call(at)
    if rung.target == Target.ON_CALL:
        return [shift.user] if shift is not None else []
    exclude = [u for u in (shift.user if shift else None, lead_id) if u is not None]
    candidate = schedule.next_in_line(at, exclude=exclude)
    return [candidate] if candidate is not None and _may_lead(candidate) else []


@task(queue_name=ESCALATION_QUEUE)
def escalate(incident_id: int, step: int, ladder: int = 0) -> str:
    """The delayed escalation task: see `escalation_step`."""
    return escalation_step(incident_id, step, ladder=ladder)


@transaction.atomic
def escalation_step(incident_id: int, step: int, *, ladder: int = 0, at: dt.datetime | None = None) -> str:
    """Escalation `step` of an incident, if it is still unacknowledged. Returns what it did.

    Reads the service's policy now (an edit applies from the next step) and pages the targets of
    its step: one ``escalation`` entry per person, through `page` for those `page_plan` can
    reach, a "no channel that works" entry for the others. Then schedules the next step: after
    its delay, or at once when nobody could be reached and the policy says to skip the wait.
    Everything is re-checked under the incident's row lock, so a task that runs after an
    acknowledgement, a downgrade, a reassignment (a newer ladder) or a duplicate does nothing.
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
    policy = policy_for(incident.service)
    if policy is None or not policy.escalates(incident.severity):
        return "not urgent"
    rung = policy_step(policy, step)
    if rung is None:
        return "limit"
    pages, current = escalation_state(incident)
    if ladder < current:
        return "superseded"
    if last_step(pages, ladder) >= step:
        return "done"

    targets = step_targets(rung, service=incident.service, at=at, lead_id=incident.lead_id)
    what = rung.describe()
    elapsed = int((at - incident.reported_at).total_seconds() // 60)
    common = {"level": rung.target, "ladder": ladder, "policy": policy.name}
    reached = False
    if not targets:
        workflow.record(
            incident,
            by=None,
            kind=Kind.ESCALATION,
            text=f"Escalation {step}: nobody to page ({what}).",
            step=step,
            **common,
        )
    for user in targets:
        plan = page_plan(user, severity=incident.severity, at=at)
        if plan:
            reason = f"{what}; not acknowledged after {elapsed} min"
            page(incident, user, step=step, reason=reason, kind=Kind.ESCALATION, channels=_labels(plan), **common)
            reached = True
        else:
            workflow.record(
                incident,
                by=None,
                kind=Kind.ESCALATION,
                text=f"Escalation {step}: {display_name(user)} has no channel that works; not paged ({what}).",
                user_id=user.pk,
                step=step,
                unreachable=True,
                **common,
            )
    schedule_escalation(
        incident, step=step + 1, after=at, ladder=ladder, policy=policy, at_once=not reached and policy.skip_unreachable
    )
    return rung.target if reached else "unreachable"


def _labels(plan) -> list[str]:
    return list(dict.fromkeys(p.label for p in plan))


def rearm() -> tuple[int, int]:
    """Schedule again the next escalation step of every unacknowledged incident its policy
    escalates and the next handoff of every rotation. Returns (incidents, rotations) scheduled.

    For after a lost task (a killed worker leaves its task RUNNING for ever: django-tasks does not retry)
    or a restore. Safe to run any time: a step or handoff already done is not done again.
    """
    at = now()
    policies = list(_policies())
    default = next((p for p in policies if p.is_default), None)
    by_pk = {p.pk: p for p in policies}
    pages = TimelineEntry.objects.filter(kind__in=LADDER_KINDS).order_by("created_at", "pk")
    unacknowledged = (
        Incident.objects.filter(status=Status.REPORTED)
        .select_related("service")
        .prefetch_related(Prefetch("timeline", queryset=pages, to_attr="page_entries"))
    )
    incidents = 0
    for incident in unacknowledged.order_by("pk"):
        policy = by_pk.get(incident.service.escalation_policy_id) or default
        if policy is None or not policy.escalates(incident.severity):
            continue
        data, ladder = ladder_state((e.kind, e.author_id, e.data) for e in incident.page_entries)
        ours = [e for e in incident.page_entries if e.kind in PAGE_KINDS and e.data.get("ladder", 0) == ladder]
        step = last_step(data, ladder) + 1
        after = ours[-1].created_at if ours else incident.reported_at
        incidents += schedule_escalation(incident, step=step, after=after, ladder=ladder, policy=policy) is not None
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
    tasking.with_change(partial(_enqueue_later, handoff, upcoming.at, schedule.source.pk, upcoming.at.isoformat()))
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
