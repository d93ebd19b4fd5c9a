"""The claim, the lease, the sweeper, and the admin's retry: delivery bookkeeping."""

from datetime import timedelta

import pytest
import time_machine
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Notification
from incidents.notifications import delivery
from incidents.tests.factories import make_incident


@pytest.fixture
def row(reporter, responder, other_responder):
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    workflow.add_note(incident, by=other_responder, text="for the lead")
    return Notification.objects.get(incident=incident, channel="email")


def test_claim_is_a_compare_and_set(row):
    assert delivery.claim(row.pk) is not None
    assert delivery.claim(row.pk) is None  # a second worker gets nothing while the lease lives
    row.refresh_from_db()
    assert row.state == "sending" and row.attempts == 1
    # The lease of 2 minutes docs/notifications.md names.
    assert row.lease_until == pytest.approx(now() + timedelta(minutes=2), abs=timedelta(seconds=5))


def test_an_expired_lease_can_be_claimed_again(row):
    with time_machine.travel(now(), tick=False) as clock:
        delivery.claim(row.pk)  # ... and the worker dies
        clock.shift(delivery.LEASE + timedelta(seconds=1))
        assert delivery.claim(row.pk) is not None
    row.refresh_from_db()
    assert row.attempts == 2


def test_the_sweeper_re_enqueues_overdue_and_lease_expired_rows_only(row, mailoutbox, other_responder):
    stuck = row
    fresh = Notification.objects.create(event_key="fresh", channel="email", recipient="a@example.com", body_text="x")
    later = Notification.objects.create(
        event_key="later",
        channel="email",
        recipient="b@example.com",
        body_text="x",
        next_attempt_at=now() + timedelta(minutes=5),
    )
    sent = Notification.objects.create(
        event_key="sent", channel="email", recipient="c@example.com", body_text="x", state="sent"
    )
    with time_machine.travel(now(), tick=False) as clock:
        delivery.claim(stuck.pk)  # its worker was killed mid-send
        assert delivery.sweep() == 0  # fresh rows belong to their on-commit task for a while
        clock.shift(delivery.LEASE + timedelta(seconds=1))
        assert delivery.sweep() == 2  # the stuck one and the fresh one (ImmediateBackend delivers them)
    for r in (stuck, fresh, later, sent):
        r.refresh_from_db()
    assert (stuck.state, fresh.state, later.state, sent.state) == ("sent", "sent", "pending", "sent")
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.com", "rob@example.com"]


def test_a_bug_in_a_transport_does_not_strand_the_row(row, monkeypatch):
    from incidents.notifications import transports

    monkeypatch.setattr(transports.Email, "send", lambda self: 1 / 0)
    assert delivery.deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert row.state == "pending" and "ZeroDivisionError" in row.last_error


def test_retry_now_gives_a_failed_row_a_fresh_start(row, mailoutbox, admin_client_manager):
    Notification.objects.filter(pk=row.pk).update(state="failed", attempts=5, permanent_error=True, last_error="550")
    response = admin_client_manager.post(
        "/admin/incidents/notification/", {"action": "retry_now", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 1 and not row.permanent_error
    assert [m.to for m in mailoutbox] == [["rob@example.com"]]


def test_managers_see_failed_rows_with_their_error_in_the_admin(row, admin_client_manager):
    Notification.objects.filter(pk=row.pk).update(state="failed", permanent_error=True, last_error="550 User unknown")
    page = admin_client_manager.get("/admin/incidents/notification/?state__exact=failed").content.decode()
    assert "rob@example.com" in page and "550 User unknown" in page


@pytest.fixture
def admin_client_manager(clients):
    return clients["manager"]


def test_the_sweeper_command_survives_a_database_error(monkeypatch, caplog):
    from django.core.management import call_command
    from django.db import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(delivery, "sweep", broken)
    call_command("run_sweeper", "--once")  # logs and carries on; db_worker would exit here
    assert "Sweep failed" in caplog.text and "server closed the connection" in caplog.text


@pytest.fixture
def one_sweep_loop(monkeypatch):
    """Run the sweeper's loop once: record its signal handlers and prunes instead of making them."""
    from incidents.management.commands import run_sweeper

    made = {"handlers": [], "prunes": []}
    monkeypatch.setattr(run_sweeper.signal, "signal", lambda signum, handler: made["handlers"].append(signum))
    monkeypatch.setattr(run_sweeper, "call_command", lambda name, **kw: made["prunes"].append(name))
    monkeypatch.setattr(run_sweeper.Command, "_sleep", lambda self, seconds: setattr(self, "running", False))
    return made


def test_the_long_running_sweeper_stops_on_signals_and_prunes_database_task_rows(settings, db, one_sweep_loop):
    import signal

    from django.core.management import call_command

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    call_command("run_sweeper", "--interval", "0")
    assert sorted(one_sweep_loop["handlers"]) == sorted([signal.SIGTERM, signal.SIGINT])
    assert one_sweep_loop["prunes"] == ["apply_retention"]  # at start, then daily


def test_the_sweeper_applies_retention_without_a_database_task_backend_too(db, one_sweep_loop):
    from django.core.management import call_command

    call_command("run_sweeper", "--interval", "0")  # ImmediateBackend (conftest): incidents still age
    assert one_sweep_loop["prunes"] == ["apply_retention"]


def test_a_one_off_sweep_applies_no_retention(db, one_sweep_loop):
    from django.core.management import call_command

    call_command("run_sweeper", "--once", verbosity=0)
    assert one_sweep_loop["prunes"] == []


def test_a_one_off_sweep_leaves_the_callers_signal_handlers_alone(db, one_sweep_loop):
    from django.core.management import call_command

    call_command("run_sweeper", "--once")
    assert one_sweep_loop == {"handlers": [], "prunes": []}


def test_the_sweeper_command_sweeps(row, mailoutbox, django_capture_on_commit_callbacks):
    from django.core.management import call_command

    with time_machine.travel(now() + timedelta(minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            call_command("run_sweeper", "--once")
    row.refresh_from_db()
    assert row.state == "sent"
    assert [m.to for m in mailoutbox] == [["rob@example.com"]]


def test_a_failures_message_keeps_its_first_2000_characters(row):
    delivery.claim(row.pk)
    delivery.record_failure(row, "a" * 1999 + "bc" + "d" * 1000, permanent=True)
    row.refresh_from_db()
    assert (row.state, row.last_error) == ("failed", "a" * 1999 + "b")


def test_a_temporary_failures_message_keeps_its_first_2000_characters(row):
    delivery.claim(row.pk)
    assert delivery.record_failure(row, "a" * 1999 + "bc" + "d" * 1000, permanent=False) == "retry"
    row.refresh_from_db()
    assert (row.state, row.last_error) == ("pending", "a" * 1999 + "b")


def test_the_log_says_whether_a_row_failed_for_good_or_ran_out_of_attempts(row, caplog):
    """What an operator reads in the worker's log: "permanent" (a 5xx, a gone webhook) or "gave up"."""
    delivery.claim(row.pk)
    row.refresh_from_db()
    delivery.record_failure(row, "550 no such user", permanent=True)
    assert f"Notification {row.pk} failed (permanent): 550 no such user" in caplog.text
    row.attempts = delivery.MAX_ATTEMPTS
    Notification.objects.filter(pk=row.pk).update(state="sending", attempts=delivery.MAX_ATTEMPTS)
    delivery.record_failure(row, "421 try later", permanent=False)
    assert f"Notification {row.pk} failed (gave up): 421 try later" in caplog.text
