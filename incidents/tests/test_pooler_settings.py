"""Behind PgBouncer in transaction mode (README, "Behind PgBouncer"): the settings drop every piece
of session state Beacon would otherwise rely on, and the sweeper's lock goes past the pooler.
PgBouncer itself, for real: incidents/tests/test_scale_out.py."""

from incidents import advisory
from incidents.tests.servers import settings_of

DATABASE = "print(repr(settings.DATABASES['default']))"


def database(**env: str) -> dict:
    result = settings_of(DATABASE, DATABASE_URL="postgres://beacon@pgbouncer:6432/beacon", **env)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout)  # noqa: S307 - the repr of our own settings dict


def test_by_default_beacon_uses_session_options_prepared_statements_and_server_side_cursors():
    db = database()
    assert "statement_timeout=10000" in db["OPTIONS"]["options"]
    assert db["OPTIONS"]["prepare_threshold"] == 2 and db["OPTIONS"]["server_side_binding"] is True
    assert not db.get("DISABLE_SERVER_SIDE_CURSORS")


def test_behind_pgbouncer_no_session_state_is_left():
    db = database(DB_BEHIND_PGBOUNCER="1", DIRECT_DATABASE_URL="postgres://beacon@db:5432/beacon")
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "options" not in db["OPTIONS"]  # PgBouncer refuses startup options
    assert "prepare_threshold" not in db["OPTIONS"] and "server_side_binding" not in db["OPTIONS"]
    assert db["CONN_MAX_AGE"] == 60  # a connection to PgBouncer may be kept
    # PgBouncer 1.21+ with max_prepared_statements: prepared statements may come back.
    db = database(
        DB_BEHIND_PGBOUNCER="1", DIRECT_DATABASE_URL="postgres://beacon@db/beacon", DB_PREPARED_STATEMENTS="1"
    )
    assert db["OPTIONS"]["prepare_threshold"] == 2


def test_behind_pgbouncer_without_a_direct_url_refuses_to_start():
    result = settings_of(DATABASE, DATABASE_URL="postgres://beacon@pgbouncer:6432/beacon", DB_BEHIND_PGBOUNCER="1")
    assert result.returncode != 0 and "DISABLE_SERVER_SIDE_CURSORS" not in result.stdout
    assert "DB_BEHIND_PGBOUNCER=1 needs DIRECT_DATABASE_URL: PostgreSQL itself, not PgBouncer" in result.stderr


def test_the_sweeper_lock_connects_to_the_direct_url(settings):
    settings.DIRECT_DATABASE_URL = "postgres://locker:secret@db.internal:5433/beacon"
    assert advisory.conninfo() == {
        "dbname": "beacon",
        "user": "locker",
        "password": "secret",
        "host": "db.internal",
        "port": 5433,
    }
