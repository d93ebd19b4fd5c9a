"""Escalation policies for people: who may edit which, the preview ("if INC-n is not
acknowledged, at 03:05 Alice is paged by email and Slack…") and the incident page's panel
(who was paged, when, on which channel, and who is next).

Both the preview and the panel compute from the rotation schedules and `page_plan`, the same
answers the engine (paging.escalation_step) uses when a step is due, so they cannot promise
what escalation does not do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.utils.timezone import now

from incidents import roles, teams
from incidents.models import (
    EscalationPolicy,
    EscalationStep,
    Incident,
    Notification,
    Service,
    Status,
    TimelineEntry,
)
from incidents.notifications.rules import page_plan, prefetch_plans
from incidents.oncall import paging
from incidents.people import display_name

Kind = TimelineEntry.Kind


# --- who may edit ------------------------------------------------------------------------
# Beacon's managers (the role's model permissions) edit every policy; a team manager edits the
# policies of their teams and makes new ones for them: the one team rule, incidents/teams.py.


def may_add(user) -> bool:
    return user.has_perm(roles.ADD_ESCALATIONPOLICY) or teams.configurable_teams(user).exists()


def may_edit(user, policy: EscalationPolicy) -> bool:
    if user.has_perm(roles.CHANGE_ESCALATIONPOLICY):
        return True
    return policy.team_id is not None and teams.may_configure(user, policy.team)


def may_delete(user, policy: EscalationPolicy) -> bool:
    if user.has_perm(roles.DELETE_ESCALATIONPOLICY):
        return True
    return policy.team_id is not None and teams.may_configure(user, policy.team)


# --- the preview -----------------------------------------------------------------------------


@dataclass
class Paged:
    user: object
    channels: list[str]  # what people read: "email", "Slack"; empty: no channel that works

    @property
    def name(self) -> str:
        return display_name(self.user)


@dataclass
class Rung:
    """One escalation step as it would run (or ran): when, which step, whom, how."""

    at: dt.datetime
    step: int
    what: str
    paged: list[Paged] = field(default_factory=list)


def channel_labels(plan) -> list[str]:
    """["email", "SMS after 5 min"]: what a page plan reads as, in its order."""
    labels = []
    for planned in plan:
        minutes = int(planned.after.total_seconds() // 60)
        labels.append(f"{planned.label} after {minutes} min" if minutes else planned.label)
    return list(dict.fromkeys(labels))


def _paged(users, severity: str, at: dt.datetime) -> list[Paged]:
    return [Paged(u, channel_labels(page_plan(u, severity=severity, at=at))) for u in users]


def preview(
    policy: EscalationPolicy,
    *,
    severity: str,
    start: dt.datetime,
    service: Service | None = None,
    lead_id: int | None = None,
    first_step: int = 1,
    limit: int | None = None,
    schedules=None,
) -> list[Rung]:
    """Every step of `policy` that would run for an incident of `severity` reported (or last
    escalated) at `start` and never acknowledged, from `first_step`: when, and who is paged on
    which channels, from the rotation schedules at that moment. `policy` comes with its steps
    (paging.policy_for or paging._policies); the rotations are loaded once (four queries) and the
    managers once, whatever the number of steps."""
    if not policy.escalates(severity):
        return []
    last = paging.ladder_length(policy)
    if limit is not None:
        last = min(last, first_step + limit - 1)
    steps = [(step, paging.policy_step(policy, step)) for step in range(first_step, last + 1)]
    # Load only what the steps ask about: the incident page previews one step, often not a rotation's.
    Target = EscalationStep.Target
    if schedules is None and any(r.target not in (Target.USER, Target.MANAGERS) for _, r in steps):
        schedules = paging.load_schedules(at=start)
    managers = paging.policy_managers(policy) if any(r.target == Target.MANAGERS for _, r in steps) else []
    rungs, at = [], start
    planned = []
    for step, rung in steps:
        at = at + paging.step_delay(rung, severity)
        users = paging.step_targets(
            rung, service=service, at=at, lead_id=lead_id, schedules=schedules, managers_=managers
        )
        planned.append((at, step, rung, users))
    # Everyone's paging rules at once (three queries), not per person and step.
    prefetch_plans([u for *_, users in planned for u in users])
    for at, step, rung, users in planned:
        rungs.append(Rung(at, step, rung.describe(), _paged(users, severity, at)))
    return rungs


# --- the incident page's panel -------------------------------------------------------------


def escalation_panel_context(request, incident: Incident) -> dict | None:
    """Who was paged about the incident, when, on which channels (the Notification rows of each
    page) and, while it is unacknowledged, who is next and when. Hidden when nobody was paged
    and its policy does not escalate it. At most ten queries, whatever the number of pages; none
    for an incident nobody was paged about and nobody will be (the policy comes from the cache)."""
    waiting = incident.status == Status.REPORTED
    has_pages = getattr(incident, "has_pages", True)  # the incident page knows (views._page_incident)
    if not waiting and not has_pages:
        return None  # acknowledged or later and nobody was ever paged: nothing to show
    # Which policy, and whether it escalates this severity, from the cache: no query.
    policy = paging.policy_summary(incident.service)
    escalating = waiting and policy is not None and policy.escalates(incident.severity)
    if not escalating and not has_pages:
        return None  # nobody paged, and nobody will be
    rows = list(incident.timeline.filter(kind__in=paging.LADDER_KINDS).order_by("created_at", "pk"))
    entries = [e for e in rows if e.kind in paging.PAGE_KINDS]
    ids = {e.data.get("user_id") for e in entries if isinstance(e.data.get("user_id"), int)}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=ids)}
    keys = [f"entry:{e.pk}" for e in entries]
    sent: dict[str, list[Notification]] = {}
    for row in Notification.objects.filter(event_key__in=keys, incident=incident).order_by("pk"):
        sent.setdefault(row.event_key, []).append(row)
    history = []
    for entry in entries:
        user = users.get(entry.data.get("user_id"))
        messages = sent.get(f"entry:{entry.pk}", [])
        history.append(
            {
                "at": entry.created_at,
                "step": entry.data.get("step"),
                "who": display_name(user, "nobody"),
                "unreachable": bool(entry.data.get("unreachable")) or user is None,
                "channels": [(m.get_channel_display(), m.get_state_display()) for m in messages],
                "text": entry.text,
            }
        )
    if not waiting and not history:
        # Acknowledged or later and nobody was ever paged: nothing to show, nothing more to ask.
        return None
    # Who comes next matters only while nobody has acknowledged, and only when the policy escalates
    # the incident's severity: its steps are loaded then, not before.
    upcoming = []
    if escalating:
        data, ladder = paging.ladder_state((e.kind, e.author_id, e.data) for e in rows)
        ours = [e for e in entries if e.data.get("ladder", 0) == ladder]
        start = ours[-1].created_at if ours else incident.reported_at
        upcoming = preview(
            policy,
            severity=incident.severity,
            start=start,
            service=incident.service,
            lead_id=incident.lead_id,
            first_step=paging.last_step(data, ladder) + 1,
            limit=1,
        )
    if not history and not upcoming:
        return None
    return {"incident": incident, "history": history, "upcoming": upcoming, "policy": policy, "now": now()}
