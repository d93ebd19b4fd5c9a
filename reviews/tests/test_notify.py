"""Who hears about review events: notify decides recipients and text, the outbox (queue_direct) writes the rows."""

from datetime import timedelta

import pytest
from django.utils.timezone import localdate

from incidents.models import Notification, Profile
from reviews import lifecycle, notify, reminders
from reviews.models import Review
from reviews.tests.factories import make_item, make_review


def test_assigning_an_item_tells_its_owner(responder, manager):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=manager, title="Add\na canary")
    [message] = notify.action_item_assigned(item, by=responder)

    assert message.to == manager
    assert message.subject == "[Beacon] Action item for you: Add a canary"  # one header line
    assert f"/reviews/{review.incident.ref}/" in message.body
    assert message.idempotency_key == f"action-assigned:{item.pk}:{manager.pk}"


def test_nobody_is_told_about_their_own_doing_or_against_their_wishes(responder, manager, other_responder):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=responder)
    assert notify.action_item_assigned(item, by=responder) == []
    assert not Notification.objects.filter(user=responder).exists()

    # Email turned off, or no address: the outbox (queue_direct decides) writes no row.
    Profile.objects.create(user=manager, email_notifications=False)
    other_responder.email = ""
    other_responder.save()
    for owner in [manager, other_responder]:
        item = make_item(review, by=responder, owner=owner)
        assert notify.queue(notify.action_item_assigned(item, by=responder), incident=review.incident) == []
    assert not Notification.objects.filter(user__in=[manager, other_responder]).exists()


def test_the_due_reminder_only_for_open_items(responder, manager):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=manager)
    [message] = notify.action_item_due(item)
    assert message.to == manager
    assert message.idempotency_key == f"action-due:{item.pk}:{item.due_date.isoformat()}"

    lifecycle.set_action_item_state(item, by=manager, state="done")
    item.refresh_from_db()
    assert notify.action_item_due(item) == []


def test_publishing_tells_reporter_lead_authors_and_followers_but_not_the_approver(
    reporter, responder, other_responder, manager, viewer
):
    review = make_review(responder=responder)
    lifecycle.edit(review, by=other_responder, version=review.version + 0, changes={"summary": "More."})
    lifecycle.submit(review, by=responder)
    review = lifecycle.publish(review, by=manager)

    recipients = {m.to for m in notify.review_published(review, followers=[viewer, manager])}
    # The incident's reporter is the responder here (factories.resolved_incident reports as `by`).
    assert recipients == {responder, other_responder, viewer}
    keys = {m.idempotency_key for m in notify.review_published(review)}
    assert all(k.startswith(f"review-published:{review.pk}:") for k in keys)


def test_every_caller_writes_outbox_rows(responder, manager, viewer):
    from incidents.models import Notification, Subscription

    review = make_review(responder=responder)
    Subscription.objects.create(user=viewer, incident=review.incident)
    item = make_item(review, by=responder, owner=manager)
    assigned = Notification.objects.get(event_key=f"action-assigned:{item.pk}:{manager.pk}")
    assert assigned.recipient == manager.email and item.title in assigned.body_text
    assert assigned.incident == review.incident
    lifecycle.submit(review, by=responder)
    lifecycle.publish(review, by=manager)
    published = Notification.objects.filter(event_key__startswith=f"review-published:{review.pk}:")
    assert {n.recipient for n in published} == {responder.email, viewer.email}  # a follower, not the approver
    assert all("is published" in n.body_text for n in published)


# --- the due-date reminder task ---------------------------------------------------------


@pytest.fixture
def dummy_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    from django_tasks import default_task_backend

    default_task_backend.clear()
    yield default_task_backend
    default_task_backend.clear()


def test_adding_an_item_schedules_its_reminder_for_the_due_date(
    dummy_tasks, responder, manager, django_capture_on_commit_callbacks
):
    review = make_review(responder=responder)
    with django_capture_on_commit_callbacks(execute=True):
        item = make_item(review, by=responder, owner=manager)
    # The owner's assignment email is enqueued too (the outbox's delivery task); pick the reminder.
    [result] = [r for r in dummy_tasks.results if r.task.func is reminders.remind_action_item_due.func]
    assert result.task.run_after == reminders.remind_at(item.due_date)
    assert result.args == [item.pk, item.due_date.isoformat()]


def test_changing_the_due_date_schedules_again(dummy_tasks, responder, manager, django_capture_on_commit_callbacks):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=manager)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.edit_action_item(item, by=responder, due_date=localdate() + timedelta(days=3))
    reminders_enqueued = [r for r in dummy_tasks.results if r.task.func is reminders.remind_action_item_due.func]
    assert [r.args[1] for r in reminders_enqueued][-1] == (localdate() + timedelta(days=3)).isoformat()


def test_the_reminder_task_does_nothing_for_a_rescheduled_done_or_deleted_item(responder, manager):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=manager)
    run = reminders.remind_action_item_due.call
    assert run(item.pk, item.due_date.isoformat()) == 1
    assert run(item.pk, "2001-01-01") == 0  # it was rescheduled since
    lifecycle.set_action_item_state(item, by=manager, state="done")
    assert run(item.pk, item.due_date.isoformat()) == 0
    assert run(999999, "2001-01-01") == 0


def test_the_reminder_task_counts_no_email_for_an_owner_who_turned_email_off(responder, manager):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=manager)
    Profile.objects.create(user=manager, email_notifications=False)
    assert reminders.remind_action_item_due.call(item.pk, item.due_date.isoformat()) == 0
    assert not Notification.objects.filter(event_key__startswith="action-due:").exists()


def test_the_immediate_backend_schedules_nothing(responder, manager):
    # conftest sets the ImmediateBackend, which cannot delay: adding an item must still work.
    review = make_review(responder=responder)
    assert make_item(review, by=responder, owner=manager).pk
    assert Review.objects.count() == 1
