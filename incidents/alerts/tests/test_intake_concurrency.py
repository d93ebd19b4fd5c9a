"""Two deliveries of the same new group at the same moment, on two PostgreSQL connections.

Alertmanager HA pairs send every notification twice, usually within milliseconds. Both
deliveries find no incident for the group; the partial unique constraint on the current
group row lets only one of them open it, and the other joins it.
SQLite serialises whole transactions, so this proves nothing there.
"""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import threading
import time

import psycopg
import pytest
from django.db import connection, connections

from incidents.alerts.tests.support import Poster, integration, load  # noqa: F401
from incidents.models import Alert, AlertGroup, Incident, Service, TimelineEntry

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs two PostgreSQL connections")


def _second_connection():
    params = connection.get_connection_params()
    keep = {"host", "port", "user", "password", "dbname"}
    return psycopg.connect(**{k: v for k, v in params.items() if k in keep})


def _waiting_on_locks(observer) -> int:
    row = observer.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return row[0]


def deliver_at_once(token: str, *payloads: dict) -> list:
    """Post each payload from its own thread, all held at their first insert until all are there."""
    answers = []

    def post(payload):
        try:
            answers.append(Poster(token).post(payload))
        finally:
            connections.close_all()

    locker, observer = _second_connection(), _second_connection()
    observer.autocommit = True
    try:
        # Inserts into the incident table wait for this lock; reads do not.
        locker.execute("LOCK TABLE incidents_incident IN EXCLUSIVE MODE")
        threads = [threading.Thread(target=post, args=(payload,)) for payload in payloads]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 2.5  # under the 3 s lock_timeout of settings.py
        while _waiting_on_locks(observer) < len(payloads) and time.monotonic() < deadline:
            time.sleep(0.02)
        all_waited = _waiting_on_locks(observer) >= len(payloads)
        locker.rollback()  # releases the lock: all go on at the same moment
        for thread in threads:
            thread.join(15)
    finally:
        locker.close()
        observer.close()
    assert all_waited, "the deliveries never overlapped"
    return answers


def test_two_deliveries_of_a_new_group_open_one_incident(integration):
    payload = load("firing-grouped-2")
    answers = deliver_at_once(integration[1], payload, payload)

    assert sorted(a.status_code for a in answers) == [200, 200], [a.content for a in answers]
    assert sorted(a.json()["created"] for a in answers) == [False, True]
    assert Incident.objects.count() == 1
    assert AlertGroup.objects.count() == 1
    assert Alert.objects.count() == 2
    assert Service.objects.filter(name="app").count() == 1
    incident = Incident.objects.get()
    assert incident.timeline.filter(kind=TimelineEntry.Kind.REPORTED).count() == 1
    assert incident.timeline.filter(kind=TimelineEntry.Kind.ALERT_FIRED).count() == 1


def test_two_different_new_alerts_of_one_group_share_the_incident(integration):
    first = load("firing-grouped-2")
    # Each delivery carries the group with one more alert, as during a group_interval flush.
    second = load("firing-grouped-2")
    first["alerts"] = first["alerts"][:1]

    answers = deliver_at_once(integration[1], first, second)

    assert [a.status_code for a in answers] == [200, 200], [a.content for a in answers]
    assert Incident.objects.count() == 1
    assert Alert.objects.count() == 2
    assert set(Alert.objects.values_list("group__incident", flat=True)) == {Incident.objects.get().pk}
