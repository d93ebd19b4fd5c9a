"""Two copies of a webhook body at the same moment, on two PostgreSQL connections: the
integration's row lock (webhook.receive) applies them one after the other, so the second finds
the first's problem open and writes nothing. SQLite serialises whole transactions: skipped there."""

import threading
import time

import pytest
from django.db import connection, connections

from incidents.alerts.tests.support import make_integration
from incidents.alerts.tests.test_intake_concurrency import _second_connection, _waiting_on_locks
from incidents.alerts.tests.test_webhook import Sender, load, map_integration
from incidents.models import Alert, Incident, Integration

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs two PostgreSQL connections")


def test_two_copies_of_a_body_at_once_open_one_incident():
    integration, token = make_integration("kuma", kind=Integration.Kind.WEBHOOK)
    map_integration(integration)
    answers = []

    def post():
        try:
            answers.append(Sender(token).post(load("uptime-kuma-down")))
        finally:
            connections.close_all()

    locker, observer = _second_connection(), _second_connection()
    observer.autocommit = True
    try:
        # Row locks and updates of integrations wait for this lock; the token's plain read does not.
        locker.execute("LOCK TABLE incidents_integration IN EXCLUSIVE MODE")
        threads = [threading.Thread(target=post) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 2.5
        while _waiting_on_locks(observer) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        all_waited = _waiting_on_locks(observer) >= 2
        locker.rollback()
        for thread in threads:
            thread.join(15)
    finally:
        locker.close()
        observer.close()
    assert all_waited, "the deliveries never overlapped"
    assert sorted(a.status_code for a in answers) == [200, 200]
    assert sorted(a.json()["created"] for a in answers) == [False, True]
    assert Incident.objects.count() == 1 and Alert.objects.count() == 1
