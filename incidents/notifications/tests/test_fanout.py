"""Fan-out: the request that changes an incident writes its notifications and their tasks in a
constant number of queries, however many people follow it (200 followers once took 218)."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import roles, workflow
from incidents.models import Notification, Subscription
from incidents.tests.factories import make_incident


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}


def followed_by(incident, count: int, start: int) -> None:
    User = get_user_model()
    users = User.objects.bulk_create(
        User(username=f"follower{n}", email=f"follower{n}@example.com") for n in range(start, start + count)
    )
    Group.objects.get(name=roles.VIEWER).user_set.add(*users)
    Subscription.objects.bulk_create(Subscription(user=u, incident=incident) for u in users)


def post_update(client, incident, capture) -> int:
    # The on-commit work (task rows) runs inside the counted block: capture exits first.
    with CaptureQueriesContext(connection) as queries, capture(execute=True):
        answer = client.post(f"/incidents/{incident.ref}/update/", {"message": "Payments work again.", "public": "on"})
    assert answer.status_code == 302
    return len(queries)


@pytest.mark.usefixtures("database_tasks")
def test_a_public_update_to_200_followers_costs_what_one_to_20_costs(
    clients, reporter, responder, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    few, many = make_incident(by=reporter), make_incident(by=reporter)
    workflow.acknowledge(few, by=responder)
    workflow.acknowledge(many, by=responder)
    followed_by(few, 20, 0)
    followed_by(many, 200, 1000)
    client = clients["responder"]
    post_update(client, few, django_capture_on_commit_callbacks)  # warm: sessions, permissions, content types

    DBTaskResult.objects.all().delete()
    queries_few = post_update(client, few, django_capture_on_commit_callbacks)
    written_few = DBTaskResult.objects.count()
    queries_many = post_update(client, many, django_capture_on_commit_callbacks)

    # SQLite caps the parameters of one statement, so Django splits a bulk insert into batches there.
    batches = 0 if connection.vendor == "postgresql" else 10
    assert queries_few <= queries_many <= queries_few + batches  # one row at a time was 200 more
    emails = Notification.objects.filter(incident=many, channel="email", recipient__startswith="follower")
    assert emails.count() == 200
    tasks = DBTaskResult.objects.filter(queue_name="email").exclude(
        args_kwargs__args__0__in=list(Notification.objects.filter(incident=few).values_list("pk", flat=True))
    )
    # One task per new email row of the second update, each naming its row.
    assert DBTaskResult.objects.count() - written_few >= 200
    assert set(tasks.values_list("task_path", flat=True)) == {"incidents.notifications.delivery.deliver_email"}
    queued = {t["args"][0] for t in tasks.values_list("args_kwargs", flat=True)}
    assert set(emails.values_list("pk", flat=True)) <= queued


def test_without_a_database_task_backend_each_row_is_enqueued_as_before(
    clients, reporter, responder, django_capture_on_commit_callbacks, mailoutbox
):
    """The immediate backend (the test settings) runs each task at once: every follower gets the email."""
    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    followed_by(incident, 3, 0)
    post_update(clients["responder"], incident, django_capture_on_commit_callbacks)
    assert {m.to[0] for m in mailoutbox if "Payments work again." in m.body} >= {
        f"follower{n}@example.com" for n in range(3)
    }


def test_followers_share_one_rendering_and_each_keeps_its_own_unsubscribe_link(client, reporter, responder):
    """The message is rendered once per audience and reason, not once per follower; the only
    part that differs, the unsubscribe link, is each row's own and stops that row's subscription."""
    from django.test.signals import template_rendered

    incident = make_incident(by=reporter)
    workflow.acknowledge(incident, by=responder)
    followed_by(incident, 30, 0)
    rendered = []

    def seen(sender, template, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(seen)
    try:
        workflow.post_update(incident, by=responder, message="Payments work again.", public=True)
    finally:
        template_rendered.disconnect(seen)
    assert rendered.count("notifications/email.txt") <= 3  # followers, the lead, the reporter: not 30

    rows = list(Notification.objects.filter(incident=incident, channel="email", recipient__startswith="follower"))
    assert len(rows) == 30
    links = {row.pk: next(w for w in row.body_text.split() if "/unsubscribe/" in w) for row in rows}
    assert len(set(links.values())) == 30
    for row in rows:
        assert links[row.pk] in row.body_html.replace("&amp;", "&")
        assert "placeholder" not in row.body_text + row.body_html
    chosen = rows[7]
    answer = client.post(urlsplit(links[chosen.pk]).path)
    assert answer.status_code == 200
    remaining = set(Subscription.objects.filter(incident=incident).values_list("user__email", flat=True))
    assert chosen.recipient not in remaining and len(remaining & {r.recipient for r in rows}) == 29


@pytest.mark.usefixtures("database_tasks")
def test_the_one_insert_sends_task_enqueued_for_every_task_as_enqueue_does(reporter, responder):
    """delivery._enqueue_in_one_insert promises what DatabaseBackend.enqueue does, the signal too."""
    from django_tasks.signals import task_enqueued

    from incidents.notifications import delivery

    incident = make_incident(by=reporter)
    rows = [
        Notification.objects.create(incident=incident, channel="email", recipient=f"r{n}@example.com") for n in range(3)
    ]
    heard = []

    def listener(sender, task_result, **kwargs):
        heard.append(task_result.args)

    task_enqueued.connect(listener)
    try:
        delivery.enqueue([(row.pk, "email") for row in rows])
    finally:
        task_enqueued.disconnect(listener)
    assert sorted(heard) == sorted([[row.pk] for row in rows])
