"""One active sweeper however many are started (incidents/advisory.py): the lock itself, then two
real `run_sweeper` processes, the first SIGKILLed, the second taking over."""

import os
import signal
import time

import psycopg
import pytest
from django.db import connection

from incidents import advisory
from incidents.tests.servers import beacon_env, manage, stop, wait_until

POSTGRES = connection.vendor == "postgresql"
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="an advisory lock is PostgreSQL's")


@pytest.mark.django_db
@pytest.mark.skipif(POSTGRES, reason="SQLite's fallback")
def test_on_sqlite_every_sweeper_just_runs():
    first, second = advisory.AdvisoryLock("sweeper"), advisory.AdvisoryLock("sweeper")
    assert first.hold() and second.hold()
    assert first.holder() == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@needs_postgres
def test_only_one_holder_and_the_next_takes_over_when_it_lets_go():
    first, second = advisory.AdvisoryLock("sweeper"), advisory.AdvisoryLock("sweeper")
    try:
        assert first.hold()
        assert not second.hold()
        assert first.hold()  # asking again keeps it
        assert first.holder() == f"beacon sweeper lock pid {os.getpid()}"
        assert advisory.AdvisoryLock("other").hold()  # another name is another lock
        first.release()
        assert second.hold()
        assert not first.hold()
    finally:
        first.release()
        second.release()
    assert first.holder() == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@needs_postgres
def test_a_lock_lost_with_its_connection_is_noticed_and_taken_again():
    lock = advisory.AdvisoryLock("sweeper")
    try:
        assert lock.hold()
        with psycopg.connect(**advisory.conninfo(), autocommit=True) as admin:
            ended = admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where application_name = %s",
                [f"beacon sweeper lock pid {os.getpid()}"],
            ).fetchall()
        assert ended == [(True,)]  # a database restart, as far as this session knows
        assert lock.hold()  # a new connection, the lock taken again
        assert lock.holder() == f"beacon sweeper lock pid {os.getpid()}"
    finally:
        lock.release()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@needs_postgres
def test_two_sweepers_one_sweeps_and_the_other_takes_over_when_it_is_killed(tmp_path):
    env = beacon_env(TASKS_BACKEND="db")
    logs = [tmp_path / "sweeper1.log", tmp_path / "sweeper2.log"]
    first = manage("run_sweeper", "--interval", "1", env=env, log=logs[0])
    second = None
    try:
        wait_until(lambda: "re-armed escalations" in logs[0].read_text(), what="the first sweeper at work")
        assert "holding the sweeper lock" in logs[0].read_text()
        second = manage("run_sweeper", "--interval", "1", env=env, log=logs[1])
        wait_until(lambda: logs[1].exists() and "standing by" in logs[1].read_text(), what="the second standing by")
        lock = advisory.AdvisoryLock("sweeper")
        assert lock.holder() == f"beacon sweeper lock pid {first.pid}"
        assert f"another sweeper is active (beacon sweeper lock pid {first.pid})" in logs[1].read_text()
        time.sleep(3)  # three sweeps of the first later, the second has still done nothing
        assert first.poll() is None and second.poll() is None
        assert "re-armed" not in logs[1].read_text() and not lock.hold()

        stop(first, signal.SIGKILL)  # no goodbye: PostgreSQL ends the session as the socket closes
        wait_until(lambda: "re-armed escalations" in logs[1].read_text(), timeout=15, what="the second taking over")
        assert "holding the sweeper lock" in logs[1].read_text()
        assert lock.holder() == f"beacon sweeper lock pid {second.pid}"
    finally:
        stop(first, signal.SIGKILL)
        if second is not None:
            stop(second)
    assert second.returncode == 0  # a stop (SIGTERM) finishes the sweep in hand and lets go
