"""Maintenance windows: the services' outside stakeholders hear once when one is scheduled and
once when it ends (the real task worker, a real SMTP server); the status page and its Atom feed
announce it, and their cache is made out of date by every change."""

import datetime as dt
from collections import Counter

import pytest
import time_machine
from django.core.management import call_command
from django.utils.timezone import now

from incidents.maintenance import rules
from incidents.models import MaintenanceWindow, Notification, StatusPageGeneration, StatusSubscriber, Subscription
from incidents.statuspage import cache
from incidents.tests.factories import ServiceFactory
from incidents.tests.standins import SmtpSink

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "email", "escalations"]}}
# A port of its own: the SMTP tests of the notifications area use 19200-19210.
SMTP_PORT = 19233


def run_worker():
    call_command("db_worker", "--batch", "--queue-name", "*", "--no-startup-delay", "--no-reload", verbosity=0)


def stakeholders(service):
    Subscription.objects.create(email="partner@outside.example", service=service)
    StatusSubscriber.objects.create(email="reader@outside.example", all_services=False).services.add(service)
    StatusSubscriber.objects.create(email="everything@outside.example", all_services=True)
    # Someone who follows another service only hears nothing.
    StatusSubscriber.objects.create(email="other@outside.example", all_services=False).services.add(
        ServiceFactory(name="Billing")
    )
    return {"partner@outside.example", "reader@outside.example", "everything@outside.example"}


def plan(by, services, *, start, hours=1, description="Card payments pause for up to 10 minutes."):
    return rules.schedule_window(
        by=by, services=services, start=start, end=start + dt.timedelta(hours=hours), description=description
    )


@pytest.fixture
def sink(tmp_path):
    sink = SmtpSink(SMTP_PORT, tmp_path)
    yield sink
    sink.stop()


@pytest.mark.django_db(transaction=True)
def test_stakeholders_get_one_email_when_scheduled_and_one_when_it_ends_through_the_worker(settings, sink, manager):
    settings.TASKS = DB_TASKS
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", SMTP_PORT, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    sink.start()
    checkout = ServiceFactory(name="Checkout")
    expected = stakeholders(checkout)
    with time_machine.travel(NOON, tick=False) as clock:
        window = plan(manager, [checkout], start=NOON + dt.timedelta(hours=1))  # 13:00-14:00, commits
        run_worker()
        assert sink.per_recipient() == Counter({address: 1 for address in expected})
        first = sink.received()[0]
        assert "Scheduled maintenance: Checkout, 2026-01-14 13:00 UTC" in first["subject"]

        clock.move_to(NOON + dt.timedelta(hours=1, minutes=59))
        run_worker()  # the end task is not due yet
        assert len(sink.received()) == len(expected)

        clock.move_to(window.end)
        run_worker()
        assert sink.per_recipient() == Counter({address: 2 for address in expected})
        ended = [r for r in sink.received() if "Maintenance finished" in r["subject"]]
        assert len(ended) == len(expected)

        # A duplicate end task, or the sweeper, sends nothing more.
        assert rules.finish_window(window.pk) == "ended"
        run_worker()
        assert len(sink.received()) == 2 * len(expected)
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_a_lost_end_task_is_re_armed_and_the_end_email_still_goes_once(settings, manager):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    checkout = ServiceFactory(name="Checkout")
    expected = stakeholders(checkout)
    with time_machine.travel(NOON, tick=False):
        window = plan(manager, [checkout], start=NOON + dt.timedelta(hours=1))
        old = plan(manager, [checkout], start=NOON - dt.timedelta(days=3))  # over long ago: left alone
        gone = plan(manager, [checkout], start=NOON + dt.timedelta(hours=2))
        rules.cancel_window(gone, by=manager)
    DBTaskResult.objects.all().delete()  # a killed worker took the end tasks with it, say
    with time_machine.travel(window.end + dt.timedelta(minutes=30), tick=False):
        assert rules.rearm() == 1  # the cancelled window and the one over for days are not re-armed
        (task,) = DBTaskResult.objects.filter(task_path="incidents.maintenance.rules.window_ended")
        assert task.args_kwargs["args"] == [window.pk]
        run_worker()
        assert rules.rearm() == 1  # the sweeper's next start re-arms it again: harmless
        run_worker()
    ended = Notification.objects.filter(subject__startswith="Maintenance finished")
    assert sorted(n.recipient for n in ended) == sorted(expected)
    assert not Notification.objects.filter(event_key=f"maintenance:{old.pk}:over").exists()


def test_the_email_says_what_users_will_notice_and_how_to_stop(manager):
    checkout = ServiceFactory(name="Checkout")
    Subscription.objects.create(email="partner@outside.example", service=checkout)
    with time_machine.travel(NOON, tick=False):
        plan(manager, [checkout], start=NOON + dt.timedelta(hours=1))
    email = Notification.objects.get()
    assert (email.recipient, email.audience) == ("partner@outside.example", "public")
    assert "From: 2026-01-14 13:00 UTC" in email.body_text
    assert "Card payments pause for up to 10 minutes." in email.body_text
    assert "To stop these emails: http" in email.body_text
    # The unsubscribe link ends the stakeholder's subscription that caused it.
    assert email.subscription.email == "partner@outside.example"


def test_cancelled_before_it_starts_they_hear_it_is_cancelled_and_never_that_it_ended(manager):
    checkout = ServiceFactory(name="Checkout")
    expected = stakeholders(checkout)
    with time_machine.travel(NOON, tick=False):
        window = plan(manager, [checkout], start=NOON + dt.timedelta(hours=1))
        rules.cancel_window(window, by=manager)
    cancelled = Notification.objects.filter(subject__startswith="Maintenance cancelled")
    assert {n.recipient for n in cancelled} == expected
    with time_machine.travel(window.end, tick=False):
        assert rules.finish_window(window.pk) == "cancelled"
    assert Notification.objects.count() == 2 * len(expected)


def test_cancelled_while_it_runs_it_ends_at_once_and_the_end_task_adds_nothing(manager):
    checkout = ServiceFactory(name="Checkout")
    expected = stakeholders(checkout)
    with time_machine.travel(NOON, tick=False):
        window = plan(manager, [checkout], start=NOON - dt.timedelta(minutes=5))
        rules.cancel_window(window, by=manager)
        with pytest.raises(rules.Refused, match="already cancelled"):
            rules.cancel_window(window, by=manager)
    assert {n.recipient for n in Notification.objects.filter(subject__startswith="Maintenance finished")} == expected
    with time_machine.travel(window.end, tick=False):
        rules.finish_window(window.pk)
    assert Notification.objects.count() == 2 * len(expected)


def test_an_early_task_or_one_for_a_window_gone_does_nothing(manager):
    checkout = ServiceFactory(name="Checkout")
    stakeholders(checkout)
    with time_machine.travel(NOON, tick=False):
        window = plan(manager, [checkout], start=NOON)
        assert rules.finish_window(window.pk) == "early"
        assert rules.finish_window(999999) == "gone"
    assert not Notification.objects.filter(subject__startswith="Maintenance finished").exists()


def test_services_not_on_the_status_page_have_no_outside_stakeholders_to_tell(manager):
    internal = ServiceFactory(name="Internal batch", is_public=False)
    Subscription.objects.create(email="partner@outside.example", service=internal)
    StatusSubscriber.objects.create(email="everything@outside.example", all_services=True)
    with time_machine.travel(NOON, tick=False):
        plan(manager, [internal], start=NOON + dt.timedelta(hours=1))
    assert not Notification.objects.exists()


def test_a_window_needs_a_service_and_sane_times_and_nothing_is_half_written(manager):
    checkout = ServiceFactory(name="Checkout")
    Subscription.objects.create(email="partner@outside.example", service=checkout)
    with pytest.raises(rules.Refused, match="Choose at least one service."):
        plan(manager, [], start=now())
    with pytest.raises(Exception, match="The end must be after the start."):
        rules.schedule_window(by=manager, services=[checkout], start=NOON, end=NOON, description="x")
    assert not MaintenanceWindow.objects.exists()
    assert not Notification.objects.exists()


# --- the status page -----------------------------------------------------------------------------


def test_the_status_page_shows_scheduled_and_ongoing_maintenance_public_text_only(client, manager):
    checkout = ServiceFactory(name="Checkout")
    internal = ServiceFactory(name="Secret ledger", is_public=False)
    with time_machine.travel(NOON, tick=False):
        ongoing = plan(manager, [checkout, internal], start=NOON - dt.timedelta(minutes=5), description="Now <b>x</b>")
        later = plan(manager, [checkout], start=NOON + dt.timedelta(days=1), description="Tomorrow's upgrade")
        gone = plan(manager, [checkout], start=NOON + dt.timedelta(days=2), description="Called off")
        rules.cancel_window(gone, by=manager)
        plan(manager, [internal], start=NOON, description="Nobody outside needs this")
        html = client.get("/status/").content.decode()
    assert f'id="maintenance-{ongoing.pk}"' in html and "In progress" in html
    assert f'id="maintenance-{later.pk}"' in html and "Scheduled" in html
    assert "Now &lt;b&gt;x&lt;/b&gt;" in html and "Tomorrow&#x27;s upgrade" in html
    assert "Called off" not in html
    assert "Secret ledger" not in html and "Nobody outside needs this" not in html
    assert "Maya" not in html  # who planned it is not public
    with time_machine.travel(ongoing.end, tick=False):
        cache.bump()  # (the cached page expires after CACHE_SECONDS; here at once)
        html = client.get("/status/").content.decode()
    assert f'id="maintenance-{ongoing.pk}"' not in html


def test_the_atom_feed_announces_maintenance(client, manager):
    checkout = ServiceFactory(name="Checkout")
    with time_machine.travel(NOON, tick=False):
        window = plan(manager, [checkout], start=NOON + dt.timedelta(hours=3), description="Payments <pause>")
        feed = client.get("/status/feed.atom").content.decode()
    assert "<title>Scheduled maintenance: Checkout</title>" in feed
    assert "From 2026-01-14 15:00 UTC until 2026-01-14 16:00 UTC." in feed
    assert "Payments &amp;lt;pause&amp;gt;" in feed
    assert f"/status/#maintenance-{window.pk}" in feed


def test_every_change_of_a_window_makes_the_cached_status_page_out_of_date(client, manager):
    checkout, billing = ServiceFactory(name="Checkout"), ServiceFactory(name="Billing")

    def generation() -> int:
        return StatusPageGeneration.objects.get(pk=1).generation

    before = generation()
    window = plan(manager, [checkout], start=now() + dt.timedelta(hours=1))
    made = generation()
    assert made > before
    assert "Checkout" in client.get("/status/").content.decode().split('id="maintenance-heading"')[1]
    window.services.add(billing)
    assert generation() > made
    cancelled_before = generation()
    rules.cancel_window(window, by=manager)
    assert generation() > cancelled_before
    assert 'id="maintenance-heading"' not in client.get("/status/").content.decode()
