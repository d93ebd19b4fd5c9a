"""Handoff summaries: at each handoff the incoming engineer hears which open incidents they inherit."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from incidents import workflow
from incidents.models import Handoff
from incidents.oncall import paging
from incidents.oncall.tests.data import make_override, make_rotation
from incidents.oncall.tests.test_escalation import DB_TASKS
from incidents.tests.factories import ServiceFactory, make_incident

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
HANDOFF = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)  # Ola hands over to Rob


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout")


@pytest.fixture
def rotation(checkout, responder, other_responder):
    return make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])


def test_summary_lists_the_open_incidents_of_the_rotations_services(rotation, checkout, reporter, responder, settings):
    settings.SITE_URL = "https://beacon.example.com"
    low = make_incident(by=reporter, service=checkout, severity="low", title="Slow receipts")
    critical = make_incident(by=reporter, service=checkout, severity="critical", title="Payments fail")
    done = make_incident(by=reporter, service=checkout, title="Old one")
    workflow.resolve(done, by=responder, summary="Fixed", confirmed=True)
    elsewhere = make_incident(by=reporter, service=ServiceFactory(name="Search"), title="Search down")
    recipient, subject, text = paging.handoff_summary(rotation, incoming=responder, at=HANDOFF)
    assert recipient == responder
    assert subject == "You are on call for Checkout primary: 2 open incident(s)"
    assert "You are on call for Checkout primary from 2026-01-15 09:00 GMT." in text
    assert text.index(critical.ref) < text.index(low.ref)
    assert f"- {critical.ref} [Critical, Reported, " in text and "Checkout: Payments fail" in text
    assert f"https://beacon.example.com/incidents/{critical.ref}/" in text
    assert done.ref not in text and elsewhere.ref not in text


def test_default_rotation_inherits_incidents_of_services_nobody_else_covers(rotation, checkout, reporter, manager):
    everything = make_rotation("Everything", members=[manager], default=True)
    covered = make_incident(by=reporter, service=checkout)
    uncovered = make_incident(by=reporter, service=ServiceFactory(name="Search"))
    _, subject, text = paging.handoff_summary(everything, incoming=manager, at=HANDOFF)
    assert uncovered.ref in text and covered.ref not in text
    _, _, quiet = paging.handoff_summary(rotation, incoming=manager, at=HANDOFF)
    assert covered.ref in quiet


def test_no_open_incidents_says_so(rotation, responder):
    _, subject, text = paging.handoff_summary(rotation, incoming=responder, at=HANDOFF)
    assert subject.endswith(": 0 open incident(s)") and "All quiet." in text


def test_run_handoff_once_per_handoff_and_only_at_real_handoffs(rotation, responder, other_responder):
    assert paging.run_handoff(rotation.pk, HANDOFF) == "sent"
    row = Handoff.objects.get()
    assert (row.incoming, row.outgoing, row.at) == (responder, other_responder, HANDOFF)
    assert paging.run_handoff(rotation.pk, HANDOFF) == "done"
    assert paging.run_handoff(rotation.pk, HANDOFF + dt.timedelta(hours=1)) == "stale"
    assert paging.run_handoff(999_999, HANDOFF) == "gone"
    assert Handoff.objects.count() == 1


def test_an_override_moves_the_handoff(rotation, manager):
    make_override(rotation, manager, HANDOFF - dt.timedelta(hours=2), HANDOFF + dt.timedelta(hours=2))
    assert paging.run_handoff(rotation.pk, HANDOFF) == "stale"  # Maya holds it over 09:00
    assert paging.run_handoff(rotation.pk, HANDOFF - dt.timedelta(hours=2)) == "sent"
    assert paging.run_handoff(rotation.pk, HANDOFF + dt.timedelta(hours=2)) == "sent"
    assert [h.incoming.username for h in Handoff.objects.order_by("at")] == ["maya", "rob"]


def test_saving_a_rotation_schedules_its_next_handoff(
    settings, clients, checkout, responder, other_responder, django_capture_on_commit_callbacks
):
    settings.TASKS = DB_TASKS
    data = {
        "name": "Search",
        "services": [checkout.pk],
        "shift_kind": "daily",
        "handoff_time": "09:00",
        "time_zone": "Europe/London",
        "start_date": "2026-01-05",
        "members": "rob\nola",
    }
    with time_machine.travel(NOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = clients["manager"].post("/oncall/rotations/new/", data)
        assert response.status_code == 302, response.context["form"].errors
    (row,) = DBTaskResult.objects.all()
    assert (row.task_path, row.run_after, row.args_kwargs["args"][1]) == (
        "incidents.oncall.paging.handoff",
        HANDOFF,
        HANDOFF.isoformat(),
    )


@pytest.mark.django_db(transaction=True)
def test_handoff_task_runs_in_the_db_worker_and_schedules_the_next(settings, responder, other_responder):
    settings.TASKS = DB_TASKS
    rotation = make_rotation("Checkout primary", members=[responder, other_responder])
    with time_machine.travel(NOON, tick=False) as clock:
        with transaction.atomic():
            assert paging.schedule_next_handoff(rotation) == HANDOFF
        clock.move_to(HANDOFF + dt.timedelta(seconds=1))
        call_command("db_worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--no-reload", verbosity=0)
    assert Handoff.objects.get().incoming == responder
    rows = list(
        DBTaskResult.objects.filter(task_path="incidents.oncall.paging.handoff")
        .order_by("run_after")
        .values_list("status", "run_after")
    )
    assert rows == [("SUCCESSFUL", HANDOFF), ("READY", HANDOFF + dt.timedelta(days=1))]
    # The summary went out through the outbox, delivered by the same worker run.
    [email] = [m for m in mail.outbox if m.to == [responder.email]]
    assert email.subject.startswith("You are on call for Checkout primary")
