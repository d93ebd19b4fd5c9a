"""Rotations for tests, made the way a manager would (models, then the schedule from them)."""

import datetime as dt
import secrets

from django.contrib.auth import get_user_model

from incidents.models import Override, Profile, Rotation, RotationMember


def make_rotation(name="Primary", *, members=(), services=(), default=False, **fields) -> Rotation:
    values = {
        "shift_kind": Rotation.ShiftKind.DAILY,
        "handoff_time": dt.time(9, 0),
        "time_zone": "Europe/London",
        "start_date": dt.date(2026, 1, 5),
    }
    values.update(fields)
    rotation = Rotation.objects.create(name=name, is_default=default, **values)
    rotation.services.set(services)
    for position, user in enumerate(members):
        RotationMember.objects.create(rotation=rotation, user=user, position=position)
    return rotation


def make_override(rotation, user, start, end, covered_user=None) -> Override:
    return Override.objects.create(rotation=rotation, user=user, start=start, end=end, covered_user=covered_user)


def give_calendar_token(user) -> str:
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.calendar_token = secrets.token_urlsafe(32)
    profile.save()
    return profile.calendar_token


def matrix_args() -> dict:
    """Objects the role matrix's on-call rows name: {rotation}, {override}, {policy}, {slug}, {token}."""
    User = get_user_model()
    responder = User.objects.get(username="rob")
    from incidents.tests.factories import ServiceFactory

    service = ServiceFactory(name="Checkout")
    rotation = make_rotation(members=[responder], services=[service])
    now = dt.datetime.now(dt.UTC)
    override = make_override(rotation, responder, now, now + dt.timedelta(hours=2))
    from incidents.models import EscalationStep

    policy = make_policy(steps=[{"target": EscalationStep.Target.ON_CALL, "rotation": rotation}], services=[service])
    return {
        "rotation": rotation.pk,
        "policy": policy.pk,
        "override": override.pk,
        "slug": service.slug,
        "token": give_calendar_token(responder),
    }


def make_policy(name="Checkout urgent", *, steps=(), severities=("critical", "high"), repeat=0, services=(), **fields):
    """A policy and its steps: each step a dict of EscalationStep fields (target, delay_minutes,
    rotation, user), in order."""
    from incidents.models import EscalationPolicy, EscalationStep

    policy = EscalationPolicy.objects.create(name=name, severities=list(severities), repeat=repeat, **fields)
    for position, step in enumerate(steps):
        EscalationStep.objects.create(policy=policy, position=position, **step)
    for service in services:
        service.escalation_policy = policy
        service.save()
    return policy
