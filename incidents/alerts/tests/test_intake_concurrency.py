"""Two deliveries of the same group at the same moment, on two PostgreSQL connections.

Alertmanager HA pairs send every notification twice, usually within milliseconds. For a new
group both deliveries find no incident; the partial unique constraint on the current group
row lets only one of them open it, and the other joins it. For an existing group the lock on
its row (`intake._current_group`) makes the second delivery wait and then find the first's
alerts stored, so it writes nothing.
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


def deliver_at_once(token: str, *payloads: dict, tables: str = "incidents_incident") -> list:
    """Post each payload from its own thread, all held until all are there: at their first insert
    into `tables`, or their first row lock in them (reads without a lock go on)."""
    answers = []

    def post(payload):
        try:
            answers.append(Poster(token).post(payload))
        finally:
            connections.close_all()

    locker, observer = _second_connection(), _second_connection()
    observer.autocommit = True
    try:
        # Inserts and SELECT … FOR UPDATE on these tables wait for this lock; plain reads do not.
        locker.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
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


@pytest.mark.parametrize("second", ["firing-grouped-2", "resolved-grouped-2"], ids=["new-alert", "resolved"])
def test_two_identical_deliveries_to_an_existing_group_apply_once(integration, second):
    """Both answer 200; one applies the change, the other finds it applied and writes nothing.

    Both deliveries are held at the group's row lock (or, without it, at the incident's):
    without the lock both would read the group's old state and write the same change twice.
    """
    first = load("firing-grouped-2")
    if second == "firing-grouped-2":
        first["alerts"] = first["alerts"][:1]  # the group exists with one alert; both deliveries add the other
    assert Poster(integration[1]).post(first).status_code == 200
    incident = Incident.objects.get()
    before = {kind: incident.timeline.filter(kind=kind).count() for kind in TimelineEntry.Kind.values}

    payload = load(second)
    answers = deliver_at_once(integration[1], payload, payload, tables="incidents_alertgroup, incidents_incident")

    assert [a.status_code for a in answers] == [200, 200], [a.content for a in answers]
    messages = [a.json()["message"] for a in answers]
    assert sorted(m.startswith("Nothing new") for m in messages) == [False, True], messages
    assert Incident.objects.count() == 1 and AlertGroup.objects.count() == 1
    assert Alert.objects.count() == 2
    after = {kind: incident.timeline.filter(kind=kind).count() for kind in TimelineEntry.Kind.values}
    written = {kind: after[kind] - before[kind] for kind in after if after[kind] != before[kind]}
    if second == "firing-grouped-2":
        assert written == {TimelineEntry.Kind.ALERT_FIRED: 1}
        assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.FIRING}
    else:
        # Two alerts resolved (one entry each), then the incident mitigated once.
        assert written == {TimelineEntry.Kind.ALERT_RESOLVED: 2, TimelineEntry.Kind.STATUS_CHANGE: 1}
        assert set(Alert.objects.values_list("status", flat=True)) == {Alert.Status.RESOLVED}
        assert Incident.objects.get().status == Incident.Status.MITIGATED
