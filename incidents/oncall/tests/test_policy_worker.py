"""Escalation policies run by the real task backend and worker: the steps are enqueued in the
django-tasks database backend and run by `manage.py db_worker --batch` with the clock moved on,
as in production (nothing is called directly). Runs on SQLite and on PostgreSQL."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from conftest import make_user
from incidents import roles, workflow
from incidents.models import EscalationStep, TimelineEntry
from incidents.oncall.tests.data import make_policy, make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

Kind = TimelineEntry.Kind
NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
DB_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "email", "slack", "webhooks", "escalations"],
    }
}
pytestmark = pytest.mark.django_db(transaction=True)


def at(minutes: int) -> dt.datetime:
    return NOON + dt.timedelta(minutes=minutes)


def run_worker():
    call_command("db_worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--no-reload", verbosity=0)


def ladder(incident) -> list[tuple]:
    """(step, ladder, who, reached) for every escalation entry, in order."""
    entries = incident.timeline.filter(kind=Kind.ESCALATION).select_related().order_by("pk")
    return [
        (e.data["step"], e.data.get("ladder", 0), e.data.get("user_id"), not e.data.get("unreachable")) for e in entries
    ]


def waiting() -> list[tuple]:
    rows = DBTaskResult.objects.filter(task_path="incidents.oncall.paging.escalate", status="READY")
    return list(rows.order_by("run_after").values_list("args_kwargs__args", "run_after"))


@pytest.fixture
def people(db):
    return {
        "rita": make_user("rita", roles.REPORTER),
        "rob": make_user("rob", roles.RESPONDER, first_name="Rob"),
        "ola": make_user("ola", roles.RESPONDER, first_name="Ola"),
        "maya": make_user("maya", roles.MANAGER, first_name="Maya"),
        # No email address and no Slack member ID: page_plan finds no channel that works.
        "nick": _without_email(make_user("nick", roles.RESPONDER, first_name="Nick")),
    }


def _without_email(user):
    user.email = ""
    user.save()
    return user


def test_a_user_with_no_working_channel_is_skipped_at_once_and_the_ladder_repeats(settings, people):
    settings.TASKS = DB_TASKS
    checkout = ServiceFactory(name="Checkout")
    make_policy(
        steps=[
            {"target": EscalationStep.Target.USER, "user": people["nick"], "delay_minutes": 5},
            {"target": EscalationStep.Target.USER, "user": people["maya"], "delay_minutes": 5},
        ],
        severities=["critical"],
        repeat=1,
        services=[checkout],
    )
    with time_machine.travel(NOON, tick=False) as clock:
        incident = make_incident(by=people["rita"], service=checkout, severity="critical")
        assert waiting() == [([incident.pk, 1], at(5))]

        clock.move_to(at(5))
        run_worker()
        nick, maya = people["nick"].pk, people["maya"].pk
        # Nick cannot be reached: the timeline says so and step 2 ran at once, not at 12:10.
        assert ladder(incident) == [(1, 0, nick, False), (2, 0, maya, True)]
        assert incident.timeline.filter(kind=Kind.ESCALATION).first().text == (
            "Escalation 1: Nick has no channel that works; not paged (Nick)."
        )
        assert waiting() == [([incident.pk, 3], at(10))]

        clock.move_to(at(10))
        run_worker()
        # The repeat: the same two steps again, then the end of the policy.
        assert ladder(incident)[2:] == [(3, 0, nick, False), (4, 0, maya, True)]
        assert waiting() == []
        results = DBTaskResult.objects.filter(task_path="incidents.oncall.paging.escalate")
        assert sorted(r.return_value for r in results) == ["unreachable", "unreachable", "user", "user"]


def test_a_policy_edited_mid_ladder_applies_from_the_next_step(settings, people):
    settings.TASKS = DB_TASKS
    checkout = ServiceFactory(name="Checkout")
    policy = make_policy(
        steps=[
            {"target": EscalationStep.Target.USER, "user": people["rob"], "delay_minutes": 5},
            {"target": EscalationStep.Target.USER, "user": people["ola"], "delay_minutes": 10},
        ],
        services=[checkout],
    )
    with time_machine.travel(NOON, tick=False) as clock:
        incident = make_incident(by=people["rita"], service=checkout, severity="high")
        clock.move_to(at(5))
        run_worker()
        assert ladder(incident) == [(1, 0, people["rob"].pk, True)]
        assert waiting() == [([incident.pk, 2], at(15))]

        # A manager edits the policy while the incident escalates: step 2 now pages Maya.
        second = policy.steps.get(position=1)
        second.user = people["maya"]
        second.save()

        clock.move_to(at(15))
        run_worker()
        assert ladder(incident) == [(1, 0, people["rob"].pk, True), (2, 0, people["maya"].pk, True)]


def test_reassigning_starts_the_new_leads_ladder_and_the_old_one_stops(settings, people):
    settings.TASKS = DB_TASKS
    checkout = ServiceFactory(name="Checkout")
    make_rotation("Checkout primary", members=[people["rob"], people["ola"]], services=[checkout])
    make_policy(
        steps=[{"target": EscalationStep.Target.MANAGERS, "delay_minutes": 5}],
        severities=["critical"],
        services=[checkout],
    )
    with time_machine.travel(NOON, tick=False) as clock:
        incident = make_incident(by=people["rita"], service=checkout, severity="critical")
        assert incident.lead == people["ola"]  # on call at noon
        clock.move_to(at(2))
        workflow.set_lead(incident, by=people["maya"], lead=people["rob"])
        page = incident.timeline.filter(kind=Kind.PAGE).order_by("pk").last()
        assert (page.data["user_id"], page.data["ladder"]) == (people["rob"].pk, 1)
        assert page.text == "Paged Rob — made lead by Maya"
        assert waiting() == [([incident.pk, 1], at(5)), ([incident.pk, 1, 1], at(7))]

        clock.move_to(at(5))
        run_worker()
        assert ladder(incident) == []  # the old lead's step: superseded

        clock.move_to(at(7))
        run_worker()
        assert ladder(incident) == [(1, 1, people["maya"].pk, True)]
        results = DBTaskResult.objects.filter(task_path="incidents.oncall.paging.escalate").order_by("run_after")
        assert [r.return_value for r in results] == ["superseded", "managers"]


def test_acknowledging_mid_ladder_stops_it_at_once(settings, people):
    settings.TASKS = DB_TASKS
    checkout = ServiceFactory(name="Checkout")
    make_policy(
        steps=[
            {"target": EscalationStep.Target.USER, "user": people["rob"], "delay_minutes": 5},
            {"target": EscalationStep.Target.MANAGERS, "delay_minutes": 5},
        ],
        services=[checkout],
    )
    with time_machine.travel(NOON, tick=False) as clock:
        incident = make_incident(by=people["rita"], service=checkout, severity="critical")
        clock.move_to(at(5))
        run_worker()
        workflow.acknowledge(incident, by=people["rob"])
        clock.move_to(at(10))
        run_worker()
        assert ladder(incident) == [(1, 0, people["rob"].pk, True)]
        last = DBTaskResult.objects.filter(task_path="incidents.oncall.paging.escalate").order_by("run_after").last()
        assert last.return_value == "acknowledged"
