"""Tasks come with the change that asks for them (incidents/tasking.py)."""

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from incidents import tasking
from incidents.notifications.reminders import reminder_due

DB_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}


class Boom(Exception):
    pass


def enqueue_one():
    reminder_due.enqueue(1)


@pytest.mark.django_db(transaction=True)
def test_on_the_database_backend_a_task_commits_and_rolls_back_with_its_change(settings):
    settings.TASKS = DB_BACKEND
    with transaction.atomic():
        assert tasking.in_transaction()
        tasking.with_change(enqueue_one)
        # Written already, in this transaction: no callback left to run after COMMIT.
        assert DBTaskResult.objects.count() == 1
        assert not transaction.get_connection().run_on_commit
    assert DBTaskResult.objects.count() == 1
    with pytest.raises(Boom), transaction.atomic():
        tasking.with_change(enqueue_one)
        raise Boom
    assert DBTaskResult.objects.count() == 1, "a rolled-back change leaves no task behind"


@pytest.mark.django_db(transaction=True)
def test_another_backend_hears_of_the_task_only_once_the_change_is_committed(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    seen = []
    with transaction.atomic():
        assert not tasking.in_transaction()
        tasking.with_change(lambda: seen.append("enqueued"))
        assert seen == []
    assert seen == ["enqueued"]
    with pytest.raises(Boom), transaction.atomic():
        tasking.with_change(lambda: seen.append("again"))
        raise Boom
    assert seen == ["enqueued"]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_task_is_enqueued_at_once(settings):
    settings.TASKS = DB_BACKEND
    assert not tasking.in_transaction()
    tasking.with_change(enqueue_one)
    assert DBTaskResult.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_the_backend_refuses_never_undoes_the_change(settings, caplog):
    from incidents.models import Service

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["email"]}}
    with transaction.atomic():
        Service.objects.create(name="Checkout")
        tasking.with_change(enqueue_one)  # its queue, "default", is not one the backend serves
    assert Service.objects.filter(name="Checkout").exists()
    assert DBTaskResult.objects.count() == 0
    assert "was not enqueued with its change" in caplog.text
