"""The database gone or a row locked too long: 503 with Retry-After and a page that says what to
do (JSON on the API), never a bare 500; /healthz answers without the session.

On PostgreSQL (SQLite keeps its in-memory test database open: there is nothing to stop).
"""

import socket
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection, connections
from django.test import Client

from incidents.api.tests.support import personal_token
from incidents.tests.factories import make_incident

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs a PostgreSQL server to take away")
    settings.DEBUG = False
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_stopped():
    """As if PostgreSQL stopped: the connection drops, and nothing answers on its port."""
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict.update(HOST="127.0.0.1", PORT=str(unused_port()))
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)


def no_raise_client(user=None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def test_pages_answer_503_with_retry_after_and_a_friendly_page(responder, reporter):
    incident = make_incident(by=reporter)
    client = no_raise_client(responder)
    with database_stopped():
        for method, path, data in [
            ("get", "/", None),
            ("get", f"/incidents/{incident.ref}/", None),
            ("post", "/incidents/new/", {"title": "Checkout down", "description": "It fails."}),
            ("get", "/accounts/login/", None),
        ]:
            response = getattr(client, method)(path, data)
            assert response.status_code == 503, (path, response.status_code)
            assert response["Retry-After"] == "10"
            page = response.content.decode()
            assert "Beacon can't reach its database" in page and "Nothing you typed is lost" in page
    # Back to normal once the database is.
    assert client.get("/").status_code == 200


def test_the_api_answers_503_in_json(responder):
    token = personal_token(responder)
    client = no_raise_client()
    with database_stopped():
        response = client.get("/api/incidents", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert response.json() == {
        "detail": "Beacon can't reach its database right now; nothing you typed is lost — try again in a moment."
    }


def test_a_held_row_lock_answers_503_after_the_lock_timeout(responder, reporter):
    incident = make_incident(by=reporter)
    client = no_raise_client(responder)
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")  # the setting's 3 s, shortened for the test
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    holder = psycopg.connect(**params)
    try:
        holder.execute("SELECT 1 FROM incidents_incident WHERE id = %s FOR UPDATE", [incident.pk])
        response = client.post(f"/incidents/{incident.ref}/acknowledge/")
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert "Beacon can't reach its database" in response.content.decode()


def test_other_errors_stay_500(responder, settings, monkeypatch):
    from incidents import views

    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(views, "paginate", broken)
    response = no_raise_client(responder).get("/incidents/")
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_healthz_never_reads_the_session(responder, django_assert_num_queries):
    client = no_raise_client(responder)  # a session cookie, as from a browser that signed in
    client.get("/healthz")  # a fresh connection's own set-up queries are not the page's
    with django_assert_num_queries(1):  # SELECT 1, and no session or user query
        assert client.get("/healthz").json() == {"status": "ok"}
    with database_stopped():
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
