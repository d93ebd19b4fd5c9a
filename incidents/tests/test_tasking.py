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


@pytest.mark.django_db(transaction=True)
def test_a_task_refused_inside_together_is_refused_at_once_and_the_rest_written(settings, caplog):
    """Gathered or not, a refused task never undoes the change, and never stops the others."""
    from incidents.models import Service
    from incidents.notifications.delivery import deliver_email

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["email"]}}
    with transaction.atomic(), tasking.together():
        Service.objects.create(name="Checkout")
        tasking.with_change(lambda: tasking.enqueue(reminder_due, 1))  # "default": not served
        tasking.with_change(lambda: tasking.enqueue(deliver_email, 7))
    assert Service.objects.filter(name="Checkout").exists()
    assert list(DBTaskResult.objects.values_list("task_path", flat=True)) == [deliver_email.module_path]
    assert "was not enqueued with its change" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_tasks_asked_for_together_are_written_in_one_insert_or_not_at_all(settings, django_assert_num_queries):
    """Inside together(), the tasks of one change are one INSERT when the block ends (the same
    rows and signals as one by one); a block that raises writes none; an inner block writes with
    the outer one."""
    settings.TASKS = DB_BACKEND
    from datetime import UTC, datetime

    from django_tasks.signals import task_enqueued

    heard = []
    task_enqueued.connect(
        lambda sender, task_result, **kw: heard.append(task_result.args), weak=False, dispatch_uid="t"
    )
    try:
        later = datetime(2030, 1, 1, tzinfo=UTC)
        with transaction.atomic():
            with django_assert_num_queries(2):  # the count below, then one INSERT
                with tasking.together():
                    tasking.enqueue(reminder_due, 1)
                    with tasking.together():
                        tasking.enqueue(reminder_due.using(run_after=later), 2)
                    tasking.enqueue_each(reminder_due, [(3,), (4,)])
                    assert DBTaskResult.objects.count() == 0  # not yet: gathered
        rows = {row.args_kwargs["args"][0]: row for row in DBTaskResult.objects.all()}
        assert sorted(rows) == [1, 2, 3, 4] and sorted(heard) == [[1], [2], [3], [4]]
        assert rows[2].run_after == later and rows[2].task_path == reminder_due.module_path
        assert rows[1].task_result.task.run_after is None  # "no run_after", as DatabaseBackend.enqueue writes it

        with pytest.raises(Boom), transaction.atomic(), tasking.together():
            tasking.enqueue(reminder_due, 5)
            raise Boom
        assert DBTaskResult.objects.count() == 4
    finally:
        task_enqueued.disconnect(dispatch_uid="t")


def test_a_new_incident_writes_its_escalation_and_reminder_in_one_insert(
    db, settings, reporter, django_assert_num_queries
):
    """workflow.report gathers the tasks its listeners ask for (incidents/tasking.py)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.tests.factories import make_incident

    settings.TASKS = DB_BACKEND
    with CaptureQueriesContext(connection) as queries:
        incident = make_incident(by=reporter, severity="critical")
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "django_tasks_database')]
    assert len(inserts) == 1, inserts
    paths = sorted(DBTaskResult.objects.values_list("task_path", flat=True))
    assert any("escalat" in p for p in paths) and any("reminder" in p for p in paths), paths
    assert incident.pk


@pytest.mark.django_db(transaction=True)
def test_a_task_of_another_backend_inside_together_goes_to_that_backend(settings):
    """Only the database backend's tasks are gathered into the one INSERT: a task bound to another
    backend is that backend's, enqueued as it would be, never written as a database task row."""
    from django_tasks import task_backends

    settings.TASKS = {**DB_BACKEND, "other": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    elsewhere = reminder_due.using(backend="other")
    with transaction.atomic(), tasking.together():
        tasking.enqueue(elsewhere, 1)
        tasking.enqueue(reminder_due, 2)
    assert [row.args_kwargs["args"] for row in DBTaskResult.objects.all()] == [[2]]
    assert [result.args for result in task_backends["other"].results] == [[1]]
