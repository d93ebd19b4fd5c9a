"""The database gone or a row locked too long: 503 with Retry-After and a page that says what to
do (JSON on the API), never a bare 500; /healthz answers without the session.

On PostgreSQL (SQLite keeps its in-memory test database open: there is nothing to stop).
"""

import json
import re
import socket
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.test import Client, RequestFactory
from django.utils.timezone import localtime

from incidents import outage
from incidents.api.tests.support import personal_token
from incidents.models import Incident
from incidents.tests.factories import ServiceFactory, make_incident

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
    assert response["Retry-After"] == "10"


# --- the 503 page gives back what was posted ----------------------------------------------


class FormReader(HTMLParser):
    """The first <form> of a page as a browser would send it: its action and its fields in order
    (a textarea's first line break dropped, as browsers do)."""

    def __init__(self):
        super().__init__()
        self.action, self.method, self.fields, self._textarea, self._forms = None, None, [], None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._forms += 1
            if self._forms == 1:
                self.action, self.method = attrs.get("action"), attrs.get("method")
        elif self._forms == 1 and tag == "input" and attrs.get("name"):
            self.fields.append([attrs["name"], attrs.get("value", "")])
        elif self._forms == 1 and tag == "textarea":
            self._textarea = [attrs["name"], ""]
            self.fields.append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None:
            self._textarea[1] = self._textarea[1].removeprefix("\r\n").removeprefix("\n")
            self._textarea = None
        elif tag == "form":
            self._forms += 1

    @classmethod
    def read(cls, html: str) -> "FormReader":
        reader = cls()
        reader.feed(html)
        reader.close()
        return reader

    def data(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.fields:
            out.setdefault(name, []).append(value)
        return out


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


TYPED = {
    "title": "Checkout <script>alert('x')</script> returns 500",
    "description": "Card payments fail.\nSince 03:00 — “all of them”.\n</textarea><b>not bold</b>",
    "impact": 'Nobody can pay & "nothing" works',
    "logs": "",
    "severity": "critical",
}


def test_a_form_posted_during_an_outage_comes_back_and_sends_again(reporter):
    service = ServiceFactory(name="Checkout")
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(reporter)
    page = browser.get("/incidents/new/?type=downtime").content.decode()
    shown = FormReader.read(page[page.index('<form method="post" novalidate>') :]).data()
    sent = {
        **{name: values[0] for name, values in shown.items()},
        **TYPED,
        "service": str(service.pk),
        "occurred_at": (localtime() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
    }
    with database_stopped():
        response = browser.post("/incidents/new/", sent)
    assert response.status_code == 503 and response["Retry-After"] == "10"
    html = response.content.decode()
    assert "Nothing you typed is lost" in html
    # Everything typed is escaped: no markup of the user's reaches the page.
    assert "<script>alert" not in html and "<b>not bold</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    form = FormReader.read(html)
    assert (form.method, form.action) == ("post", "/incidents/new/")
    kept = form.data()
    for name, value in TYPED.items():
        assert kept[name] == [value], name
    assert kept["idempotency_token"] == [sent["idempotency_token"]]
    assert kept["csrfmiddlewaretoken"] != [sent["csrfmiddlewaretoken"]]  # a fresh one

    # The database is back: the page's own form, sent as it is, reports the incident once.
    resend = {name: values if len(values) > 1 else values[0] for name, values in kept.items()}
    first = browser.post(form.action, resend)
    assert first.status_code == 302, first.context["form"].errors
    incident = Incident.objects.get()
    assert first["Location"] == incident.get_absolute_url()
    assert (incident.title, incident.description, incident.impact) == (
        "Checkout <script>alert('x')</script> returns 500",
        TYPED["description"],
        TYPED["impact"],
    )
    again = browser.post(form.action, resend)  # "Send again" clicked twice
    assert again["Location"] == incident.get_absolute_url() and Incident.objects.count() == 1


def test_credentials_csrf_tokens_and_files_never_come_back(reporter):
    browser = no_raise_client(reporter)
    with database_stopped():
        login = browser.post("/accounts/login/", {"username": "rita", "password": "hunter2-secret", "next": "/x/"})
        upload = browser.post(
            "/incidents/new/",
            {
                "title": "Kept title",
                "attachment": SimpleUploadedFile("dump.txt", b"file-content-zzz"),
                "api_token": "tok-zzz",
                "secret": "sec-zzz",
                "old_password": "old-zzz",
                "csrfmiddlewaretoken": "posted-csrf-zzz",
            },
        )
    assert login.status_code == upload.status_code == 503
    kept = FormReader.read(login.content.decode()).data()
    assert set(kept) == {"csrfmiddlewaretoken", "username", "next"}
    assert (kept["username"], kept["next"]) == (["rita"], ["/x/"])
    assert "hunter2" not in login.content.decode()
    page = upload.content.decode()
    assert set(FormReader.read(page).data()) == {"csrfmiddlewaretoken", "title"}
    for secret in ["file-content-zzz", "dump.txt", "tok-zzz", "sec-zzz", "old-zzz", "posted-csrf-zzz"]:
        assert secret not in page


def test_pages_answered_without_a_post_have_no_form_and_machines_get_json(reporter):
    browser = no_raise_client(reporter)
    with database_stopped():
        page = browser.get("/incidents/?q=<i>x</i>")
    assert page.status_code == 503 and "<form" not in page.content.decode()
    # The Slack and Alertmanager intakes answer JSON, and never echo what was posted.
    request = RequestFactory().post("/integrations/slack/commands/", {"text": "report db down", "token": "t"})
    answer = outage.unavailable(request)
    assert answer.status_code == 503 and json.loads(answer.content) == {"detail": outage.MESSAGE}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_a_prepared_query_is_planned_for_its_own_values_every_time(clients, reporter):
    # After five runs PostgreSQL may give a prepared statement one generic plan for any value,
    # blind to how many rows that value matches: a search or a status filter then took 60-80 ms
    # instead of 2-4 on the bench database (incidentsite/settings.py, plan_cache_mode).
    make_incident(by=reporter)
    for _ in range(8):
        assert clients["viewer"].get("/incidents/?status=reported").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(custom_plans), sum(generic_plans) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "incidents_incident"%'],
        )
        custom, generic = cursor.fetchone()
    assert custom and custom >= 8 and generic == 0
