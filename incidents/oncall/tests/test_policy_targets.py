"""Whom each kind of step pages at a given moment (paging.step_targets with `at=`), and the
default policy made from the escalation settings."""

import datetime as dt

import pytest

from conftest import make_user
from incidents import roles
from incidents.models import EscalationPolicy, EscalationStep, Team, TeamMembership
from incidents.models.escalation import ship_default_policy
from incidents.oncall import paging
from incidents.oncall.tests.data import make_policy, make_rotation
from incidents.tests.factories import ServiceFactory

Target = EscalationStep.Target
# Daily shifts from Monday 2026-01-05 09:00 London: rob, ola, rob, … — Wednesday the 14th is ola's.
WEDNESDAY = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
THURSDAY = WEDNESDAY + dt.timedelta(days=1)


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout")


@pytest.fixture
def rotation(checkout, responder, other_responder):
    return make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])


def targets(step, service, at, lead=None):
    step = EscalationStep.objects.select_related("policy", "rotation", "user").get(pk=step.pk)
    return [u.username for u in paging.step_targets(step, service=service, at=at, lead_id=lead)]


def one_step(**fields):
    return make_policy(f"P{EscalationPolicy.objects.count()}", steps=[fields]).steps.get()


def test_on_call_of_a_rotation_follows_the_schedule(checkout, rotation):
    step = one_step(target=Target.ON_CALL, rotation=rotation)
    assert targets(step, None, WEDNESDAY) == ["ola"]
    assert targets(step, None, THURSDAY) == ["rob"]
    # No rotation named: the one that answers for the incident's service.
    step = one_step(target=Target.ON_CALL)
    assert targets(step, checkout, THURSDAY) == ["rob"]
    assert targets(step, ServiceFactory(name="Orphan"), THURSDAY) == []


def test_next_in_line_skips_the_on_call_and_the_lead(checkout, rotation, responder, other_responder):
    rotation.memberships.create(user=make_user("tom", roles.RESPONDER), position=2)
    step = one_step(target=Target.NEXT, rotation=rotation)
    # Three members: the ninth daily shift is rob's again; ola is next, unless she leads.
    assert targets(step, None, WEDNESDAY) == ["ola"]
    assert targets(step, None, WEDNESDAY, lead=other_responder.pk) == ["tom"]


def test_everyone_in_a_rotation_and_a_person(checkout, rotation, responder, manager):
    assert targets(one_step(target=Target.EVERYONE, rotation=rotation), None, WEDNESDAY) == ["rob", "ola"]
    assert targets(one_step(target=Target.USER, user=manager), None, WEDNESDAY) == ["maya"]
    manager.is_active = False
    manager.save()
    assert targets(one_step(target=Target.USER, user=manager), None, WEDNESDAY) == []


def test_the_managers_are_the_teams_managers_else_the_manager_role(checkout, responder, other_responder, manager):
    assert targets(one_step(target=Target.MANAGERS), None, WEDNESDAY) == ["maya"]
    team = Team.objects.create(name="Payments")
    policy = make_policy("Payments", steps=[{"target": Target.MANAGERS}], team=team)
    assert targets(policy.steps.get(), None, WEDNESDAY) == ["maya"]  # a team without managers
    TeamMembership.objects.create(team=team, user=other_responder, is_manager=True)
    TeamMembership.objects.create(team=team, user=responder, is_manager=False)
    assert targets(policy.steps.get(), None, WEDNESDAY) == ["ola"]


def test_a_step_without_delay_waits_the_severitys_delay_from_the_settings(settings, db):
    step = EscalationStep(target=Target.MANAGERS)
    assert paging.step_delay(step, "critical") == dt.timedelta(minutes=5)
    assert paging.step_delay(step, "high") == dt.timedelta(minutes=15)
    assert paging.step_delay(step, "low") == paging.FALLBACK_DELAY
    settings.ONCALL_ESCALATION_MINUTES = {"critical": 2}
    assert paging.step_delay(step, "critical") == dt.timedelta(minutes=2)
    assert paging.step_delay(EscalationStep(target=Target.MANAGERS, delay_minutes=0), "critical") == dt.timedelta(0)


@pytest.mark.parametrize(
    "minutes, steps, severities, targets_, repeat",
    [
        ({"critical": 5, "high": 15}, 4, ["critical", "high"], ["next", "managers"], 1),
        ({"critical": 5, "high": None}, 3, ["critical"], ["next", "managers"], 1),
        ({"critical": 5}, 1, ["critical"], ["next"], 0),
        ({"critical": 5}, 0, [], ["next"], 0),
    ],
)
def test_the_default_policy_is_made_from_the_settings(settings, db, minutes, steps, severities, targets_, repeat):
    EscalationPolicy.objects.all().delete()
    settings.ONCALL_ESCALATION_MINUTES = minutes
    settings.ONCALL_ESCALATION_STEPS = steps
    ship_default_policy(EscalationPolicy, EscalationStep)
    policy = EscalationPolicy.objects.get(is_default=True)
    assert (policy.severities, [s.target for s in policy.steps.all()], policy.repeat) == (severities, targets_, repeat)
    assert all(s.delay_minutes is None for s in policy.steps.all())
    ship_default_policy(EscalationPolicy, EscalationStep)  # once only
    assert EscalationPolicy.objects.count() == 1


def test_a_fresh_database_has_the_default_policy(db):
    policy = EscalationPolicy.objects.get(is_default=True)
    assert policy.name == "Default" and policy.severities == ["critical", "high"]
