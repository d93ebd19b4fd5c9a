"""Two real `db_worker` processes deliver webhook rows, every row queued twice (as a sweeper racing
the on-commit task would): the receiver on 127.0.0.1 gets each event id exactly once. PostgreSQL
only: the workers share its database."""

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction

from incidents.models import Notification, Webhook
from incidents.notifications import delivery, outbox
from incidents.tests.standins import WebhookReceiver

POSTGRES = connection.vendor == "postgresql"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
    pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (worker processes share its database)"),
]


def start_worker(worker_id: str, log) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "WEBHOOKS_ALLOW_PRIVATE": "1",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "db_worker", "--queue-name", "webhooks", "--no-reload"]
    command += ["--no-startup-delay", "--interval", "0.1", "--worker-id", worker_id, "--batch"]
    return subprocess.Popen(  # noqa: S603 - our own manage.py
        command, cwd=django_settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def test_two_workers_deliver_each_event_once(settings, tmp_path):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["webhooks"]}}
    receiver = WebhookReceiver().start()
    try:
        hook = Webhook(name="load", url=receiver.url, events=["incident.created"])
        hook.set_new_secret()
        hook.save()
        ids = [str(uuid.uuid4()) for _ in range(100)]
        with transaction.atomic():
            outbox.write(
                [
                    Notification(
                        event_key=f"load:{i}",
                        channel="webhook",
                        recipient=hook.destination,
                        subject=f"incident.created {event_id}",
                        body_text=json.dumps({"id": event_id, "type": "incident.created", "data": {}}),
                    )
                    for i, event_id in enumerate(ids)
                ]
            )
        delivery.enqueue(list(Notification.objects.values_list("pk", "channel")))  # the second task of each row
        assert DBTaskResult.objects.filter(queue_name="webhooks").count() == 200

        logs = [open(tmp_path / f"worker{i}.log", "w") for i in (1, 2)]  # noqa: SIM115 - closed below
        workers = [start_worker(f"w{i}", log) for i, log in enumerate(logs)]
        try:
            for worker in workers:
                assert worker.wait(timeout=180) == 0
        finally:
            for worker, log in zip(workers, logs, strict=True):
                if worker.poll() is None:
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.wait()
                log.close()
        seen = Counter(r["headers"]["Beacon-Event-Id"] for r in receiver.requests)
        assert set(seen) == set(ids) and set(seen.values()) == {1}
        assert set(Notification.objects.values_list("state", "attempts")) == {("sent", 1)}
        by_worker = Counter(w for pks in DBTaskResult.objects.values_list("worker_ids", flat=True) for w in pks)
        assert set(by_worker) == {"w0", "w1"}  # both really worked
    finally:
        receiver.stop()
