"""A real PostgreSQL stopped under a running Beacon, and started again.

A private PostgreSQL 15 cluster (initdb into a temporary directory, on a free loopback port),
Beacon migrated into it and served by gunicorn with the production settings (DEBUG off; only
the static files are served unhashed, so no collectstatic is needed). Then, while requests run,
the cluster is stopped (`pg_ctl stop -m fast`): every page, API and intake request answers 503
with Retry-After (never a 500) and the report form's text comes back on the 503 page. The cluster
is started again: the same gunicorn answers 200, the 503 page's form reports the incident once,
and nothing half-written is left in the database.

Runs with the PostgreSQL half of the suite (it needs PostgreSQL's server binaries, which CI
installs with PostgreSQL); skipped on SQLite runs and where /usr/lib/postgresql/15/bin is
missing. initdb refuses to run as root, so as root the cluster belongs to the `postgres` OS user.
Loopback only.
"""

import http.cookiejar
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from incidents.alerts.tests.support import load, variant
from incidents.tests.test_outage import TYPED, FormReader, csrf_of
from incidents.tests.test_proxy import free_port
from incidents.tests.test_setup import ROOT, clean_env

PG_BIN = Path("/usr/lib/postgresql/15/bin")
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

pytestmark = pytest.mark.postgres_only

SETTINGS = """from incidentsite.settings import *  # noqa: F403
from incidentsite.settings import STORAGES

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
"""

# Migrates the new database, then makes the people and tokens the test acts with.
SEED = """
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from django.contrib.auth.models import Group, User
from incidents.models import ApiToken, Integration, Service
from incidents.roles import RESPONDER
user = User.objects.create_user("rob", "rob@example.com", "pw-rob-1234")
user.groups.add(Group.objects.get(name=RESPONDER))
Service.objects.create(name="Checkout", slug="checkout")
api = ApiToken(user=user, name="script")
api_token = api.set_new_token()
api.save()
hook = Integration(name="prometheus", kind=Integration.Kind.ALERTMANAGER)
hook_token = hook.set_new_token()
hook.save()
print(json.dumps({"api": api_token, "alertmanager": hook_token}))
"""


class Cluster:
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1:<port>, owned by `postgres` when we are root."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self.as_postgres, *args], cwd=self.root, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{args[0]} failed: {result.stdout}\n{result.stderr}"

    def init(self) -> None:
        if self.as_postgres:
            record = pwd.getpwnam("postgres")
            os.chown(self.root, record.pw_uid, record.pw_gid)
        self.run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self.run(
            str(PG_BIN / "pg_ctl"), "start", "-w", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options
        )

    def stop(self) -> None:
        self.run(str(PG_BIN / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data))

    def url(self, database: str = "beacon") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


def needs_a_private_cluster() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("runs with the PostgreSQL half of the suite (DATABASE_URL=postgres://…)")
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL 15's server binaries are not in {PG_BIN} (apt-get install postgresql-15)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("initdb refuses root, and there is no postgres OS user to run it as")
        if shutil.which("runuser") is None:
            pytest.skip("initdb refuses root, and runuser is missing to run it as postgres")


class Browser:
    """A signed-in session against gunicorn: cookies, no redirects followed, any status returned."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)

    def request(self, method: str, path: str, data=None, headers=None, body: bytes | None = None):
        if data is not None:
            body = urllib.parse.urlencode(data, doseq=True).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def sign_in(self, username: str, password: str) -> None:
        status, _, page = self.request("GET", "/accounts/login/")
        assert status == 200
        data = {"csrfmiddlewaretoken": csrf_of(page), "username": username, "password": password}
        status, headers, _ = self.request("POST", "/accounts/login/", data)
        assert status == 302 and headers["Location"] == "/", status


@pytest.fixture(scope="module")
def stack():
    with serving() as running:
        yield running


@contextmanager
def serving():
    """The cluster, migrated and seeded, and gunicorn serving Beacon from it."""
    needs_a_private_cluster()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="beacon-pg-"))
    cluster = Cluster(root)
    gunicorn = None
    try:
        cluster.init()
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE beacon")
        (root / "outage_settings.py").write_text(SETTINGS)
        env = clean_env(
            DJANGO_SETTINGS_MODULE="outage_settings",
            PYTHONPATH=f"{root}{os.pathsep}{ROOT}",
            DATABASE_URL=cluster.url(),
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(60),
            ALLOWED_HOSTS="127.0.0.1",
            METRICS_PUBLIC="1",
            SECURE_SSL_REDIRECT="0",
            TIME_ZONE="UTC",  # the report's time below is written in UTC
        )
        marks = {"cluster": time.monotonic() - started}
        # One process migrates and seeds (a second Django start-up costs seconds).
        seed = subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=env, capture_output=True, text=True)
        assert seed.returncode == 0, seed.stderr[-3000:]
        tokens = json.loads(seed.stdout.strip().splitlines()[-1])
        marks["migrated"] = time.monotonic() - started
        port = free_port()
        command = [GUNICORN, "incidentsite.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        # Its log to a file: every 503 logs a traceback, and a pipe nobody reads would fill and block it.
        log = root / "gunicorn.log"
        with log.open("wb") as sink:
            gunicorn = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while not healthy(base):
            assert gunicorn.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not answer"
            time.sleep(0.1)
        yield {
            "cluster": cluster,
            "base": base,
            "tokens": tokens,
            "gunicorn": gunicorn,
            "setup": time.monotonic() - started,
        }
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGQUIT)  # quick shutdown: nothing is left to finish
            try:
                gunicorn.wait(30)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
                gunicorn.wait(10)
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def healthy(base: str) -> bool:
    try:
        return Browser(base).request("GET", "/healthz")[0] == 200
    except OSError:
        return False


def alert_payload(n: int) -> bytes:
    """A firing Alertmanager group of its own (one incident per group key)."""
    payload = load("firing")
    payload = variant(payload, groupKey=f'{{}}:{{alertname="Outage{n}"}}', groupLabels={"alertname": f"Outage{n}"})
    payload["alerts"][0]["fingerprint"] = f"{n:016x}"
    payload["alerts"][0]["labels"]["alertname"] = f"Outage{n}"
    payload["commonLabels"]["alertname"] = f"Outage{n}"
    return json.dumps(payload).encode()


def requests_of_every_kind(browser: Browser, tokens: dict, n: int) -> list[tuple[str, int, dict, str]]:
    """Pages, the public status page, the health check, the API and the intake: (what, status,
    headers, body) of each."""
    answers = []
    for what, method, path, extra in [
        ("dashboard", "GET", "/", {}),
        ("incident list", "GET", "/incidents/", {}),
        ("report form", "GET", "/incidents/new/?type=downtime", {}),
        ("status page", "GET", "/status/", {}),
        ("health check", "GET", "/healthz", {}),
        ("api", "GET", "/api/incidents", {"headers": {"Authorization": f"Bearer {tokens['api']}"}}),
        (
            "intake",
            "POST",
            "/integrations/alertmanager/",
            {
                "headers": {"Authorization": f"Bearer {tokens['alertmanager']}", "Content-Type": "application/json"},
                "body": alert_payload(n),
            },
        ),
    ]:
        status, headers, body = browser.request(method, path, **extra)
        answers.append((what, status, headers, body))
    return answers


def report_form_data(browser: Browser) -> dict:
    status, _, page = browser.request("GET", "/incidents/new/?type=downtime")
    assert status == 200
    shown = FormReader.read(page[page.index('<form method="post" novalidate>') :]).data()
    service = re.search(r'<option value="(\d+)"[^>]*>Checkout</option>', page).group(1)
    return {
        **{name: values[0] for name, values in shown.items()},
        **TYPED,
        "service": service,
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 300)),
    }


def test_stopping_postgresql_answers_503_everywhere_and_starting_it_again_heals(stack):
    cluster, tokens = stack["cluster"], stack["tokens"]
    started = time.monotonic()
    browser = Browser(stack["base"])
    browser.sign_in("rob", "pw-rob-1234")
    for what, status, _, _ in requests_of_every_kind(browser, tokens, 1):
        assert status == 200, what
    typed = report_form_data(browser)

    # Requests keep coming from a second client while the cluster stops under them.
    seen: list[tuple[str, int, str]] = []
    stop = threading.Event()

    other = Browser(stack["base"])
    other.sign_in("rob", "pw-rob-1234")

    def load_while_stopping():
        n = 100
        while not stop.is_set():
            n += 1
            try:
                for what, status, headers, _ in requests_of_every_kind(other, tokens, n):
                    seen.append((what, status, headers.get("Retry-After", "")))
            except OSError as error:  # no answer at all (a timeout): as much a failure as a 500
                seen.append(("?", 0, repr(error)))

    def until(condition, seconds=10):
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)

    loader = threading.Thread(target=load_while_stopping)
    loader.start()
    try:
        until(lambda: len(seen) >= 5)
        cluster.stop()
        until(lambda: sum(1 for _, status, _ in seen if status == 503) >= 5)
    finally:
        stop.set()
        loader.join(30)
    statuses = {status for _, status, _ in seen}
    assert statuses <= {200, 503}, sorted(set(seen))
    assert 200 in statuses and 503 in statuses, "the load ran across the stop"
    assert all(retry == "10" for _, status, retry in seen if status == 503)

    # The cluster is down: every kind of request answers 503 with Retry-After.
    for what, status, headers, body in requests_of_every_kind(browser, tokens, 2):
        assert (what, status, headers.get("Retry-After")) == (what, 503, "10"), body[-500:]
    status, headers, page = browser.request("POST", "/incidents/new/", typed)
    assert (status, headers.get("Retry-After")) == (503, "10")
    form = FormReader.read(page)
    kept = form.data()
    assert form.action == "/incidents/new/" and all(kept[name] == [value] for name, value in TYPED.items())
    assert "<script>alert" not in page

    # Started again: the same gunicorn answers, the kept form reports the incident once.
    cluster.start()
    assert stack["gunicorn"].poll() is None
    for what, status, _, body in requests_of_every_kind(browser, tokens, 3):
        assert status == 200, (what, status, body[-500:])
    resend = {name: values for name, values in kept.items()}
    status, headers, _ = browser.request("POST", form.action, resend)
    assert status == 302 and re.fullmatch(r"/incidents/INC-\d+/", headers["Location"]), status
    assert browser.request("POST", form.action, resend)[1]["Location"] == headers["Location"]  # clicked twice

    # Nothing half-written: every incident whole, with its report on the timeline; every key resolved.
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        incidents = conn.execute("SELECT count(*) FROM incidents_incident").fetchone()[0]
        without_report = conn.execute(
            "SELECT count(*) FROM incidents_incident i WHERE NOT EXISTS (SELECT 1 FROM incidents_timelineentry t "
            "WHERE t.incident_id = i.id AND t.kind = 'reported')"
        ).fetchone()[0]
        alerts_without_incident = conn.execute(
            "SELECT count(*) FROM incidents_incident i WHERE i.source = 'alertmanager' AND NOT EXISTS "
            "(SELECT 1 FROM incidents_alertgroup g JOIN incidents_alert a ON a.group_id = g.id "
            "WHERE g.incident_id = i.id)"
        ).fetchone()[0]
        unresolved_keys = conn.execute(
            "SELECT count(*) FROM incidents_idempotencykey WHERE result_url = ''"
        ).fetchone()[0]
        reports = conn.execute("SELECT count(*) FROM incidents_incident WHERE title = %s", [TYPED["title"]]).fetchone()[
            0
        ]
    assert incidents >= 2 and without_report == 0 and alerts_without_incident == 0 and unresolved_keys == 0
    assert reports == 1
    print(f"set-up {stack['setup']:.1f} s, stop/start and checks {time.monotonic() - started:.1f} s")
