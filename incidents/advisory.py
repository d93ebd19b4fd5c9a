"""One active process of a kind, however many are started: a PostgreSQL advisory lock.

`docker-compose --scale`, a second host or a careless restart may start two sweepers; two
sweepers would re-enqueue the same rows twice a minute and re-arm every escalation twice. The
outbox would still send each message once (the claim is a compare-and-set), but the queues
would carry twice the work for nothing. So a long-running sweeper first takes the lock named
"sweeper": the one that gets it sweeps, the others stand by and try again every few seconds.

PostgreSQL releases a session's advisory locks when the session ends, and a killed process's
session ends as its socket closes (a vanished host's when the server's TCP keepalives give up),
so a standby takes over within seconds of the active one's death, with no lease to expire.

The lock is session state, so it lives on a connection of its own for the process's life:
Django's connections are closed between sweeps (close_old_connections), and behind PgBouncer
in transaction mode a session lock would be taken on whichever server connection the pooler
lent for that one statement, then left there for another client. DIRECT_DATABASE_URL names
PostgreSQL itself when DATABASE_URL names a pooler (README, "Behind PgBouncer").

On SQLite there is one machine and no server to hold a lock: the caller simply runs.
"""

import logging
import os
import zlib
from collections.abc import Mapping
from typing import Any

import dj_database_url
import psycopg
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

# One key per name; a crc32 fits PostgreSQL's bigint key and pg_locks shows it as objid.
KEY_SPACE = "beacon:"


def key_for(name: str) -> int:
    return zlib.crc32((KEY_SPACE + name).encode())


def conninfo() -> dict:
    """Where the lock's connection goes: DIRECT_DATABASE_URL, else the default database itself."""
    db: Mapping[str, Any] = (
        dj_database_url.parse(settings.DIRECT_DATABASE_URL)
        if settings.DIRECT_DATABASE_URL
        else connection.settings_dict
    )
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    return {key: value for key, value in params.items() if value is not None}


class AdvisoryLock:
    """`hold()` answers whether this process holds the lock now, taking it if it is free.

    Call it before each round of work: it also notices a lost connection (a database restart
    ends the session, and with it the lock) and then tries to take the lock again."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = key_for(name)
        self._connection: psycopg.Connection | None = None

    @property
    def supported(self) -> bool:
        return connection.vendor == "postgresql"

    def hold(self) -> bool:
        if not self.supported:
            return True
        if self._connection is not None:
            try:
                self._connection.execute("select 1")
                return True
            except psycopg.Error:
                logger.warning("Lost the %s lock's connection; trying to take the lock again", self.name)
                self.release()
        try:
            conn = psycopg.connect(
                **conninfo(),
                autocommit=True,
                connect_timeout=settings.DATABASES["default"].get("OPTIONS", {}).get("connect_timeout", 3),
                application_name=f"beacon {self.name} lock pid {os.getpid()}",
                # A silent link is noticed within seconds, not at the next sweep's TCP timeout.
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        except psycopg.Error as error:
            logger.warning("Cannot reach PostgreSQL for the %s lock: %s", self.name, error)
            return False
        try:
            row = conn.execute("select pg_try_advisory_lock(%s)", [self.key]).fetchone()
            taken = bool(row and row[0])
        except psycopg.Error as error:
            logger.warning("Could not ask for the %s lock: %s", self.name, error)
            taken = False
        if not taken:
            conn.close()
            return False
        self._connection = conn
        return True

    def holder(self) -> str:
        """The application_name of the session holding the lock, or "" (for messages and tests)."""
        if not self.supported:
            return ""
        try:
            with psycopg.connect(**conninfo(), autocommit=True, connect_timeout=3) as conn:
                row = conn.execute(
                    "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid"
                    " where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid::bigint = %s"
                    " and l.database = (select oid from pg_database where datname = current_database())",
                    [self.key],
                ).fetchone()
        except psycopg.Error:
            return ""
        return row[0] if row else ""

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()  # ends the session, and with it the lock
            finally:
                self._connection = None
