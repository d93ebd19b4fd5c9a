"""`make bench` (HTTP mode, the default): Beacon's pages under load, the way a user feels them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/beacon_bench make bench
    BENCH_INCIDENTS=20000 BENCH_ENTRIES=200000 BENCH_USERS=1000 BENCH_SECONDS=5 make bench   # quicker

1. Fills the PostgreSQL database once with BENCH_INCIDENTS incidents (100,000), BENCH_ENTRIES
   timeline entries (1,000,000) and BENCH_USERS users (5,000); reused while the sizes match.
2. Starts gunicorn (BENCH_WORKERS sync workers, 5) with production settings plus bench/settings.py,
   which adds two reference pages: /bench/hello/ and /bench/rows/ (bench/views.py).
3. Loads each page with wrk (BENCH_CONNECTIONS connections, 16; BENCH_SECONDS seconds, 10), the
   references in the same run, and counts each page's queries through Django's test client.
4. Posts Alertmanager payloads with wrk (a new group each, and new alerts into one group) and
   compares payloads/s with a psycopg loop inserting one row per transaction, run for as long
   right before it, in BENCH_ROUNDS rounds (3): the ratio is the median of the rounds'.
5. Times the request that posts a public update to an incident with 200 email followers, and one
   worker delivering 200 emails to a local SMTP server: a `db_worker`, then (no target) an
   `rqworker --burst` on a private redis-server.
6. Prints the table, writes bench/results.md, exits 1 when a ratio is under its target
   (bench/targets.py).
"""

import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "100000"))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "1000000"))
USERS = int(os.environ.get("BENCH_USERS", "5000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
# Each page is loaded ROUNDS times for SECONDS / ROUNDS, each time right after its reference:
# a ratio is the median of the per-round ratios, so a machine that gets busier or quieter during
# the run (other processes, CPU frequency) moves a page and its reference together.
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "5"))
OPEN_INCIDENTS = 40  # open at any time, as on a bad day; the rest is history
BUSY_ENTRIES = 206  # the incident page's worst case measured
SERVICES = 20

ENV = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-not-secret-bench-only-not-secret-bench-only",
    "SECURE_SSL_REDIRECT": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    # Production start-up refuses an open /metrics (incidents/checks.py); the bench never reads it.
    "METRICS_TOKEN": "bench-only-metrics-token",
}


def setup_django() -> None:
    for name, value in ENV.items():
        os.environ[name] = value
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit(
            "The HTTP benchmark needs PostgreSQL: set DATABASE_URL, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/beacon_bench make bench "
            "(the database is created when missing). BENCH_MODE=client runs the in-process benchmark on SQLite."
        )
    sys.path.insert(0, str(ROOT))
    create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()


def create_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- the data ----------------------------------------------------------------------------

NOTE = (
    "Checked **{svc}**: upstream answers `502` for about {n}% of requests.\n\n"
    "- rolled back the last deploy\n- restarted two pods\n\nSee [the dashboard](https://grafana.example/d/{n})."
)


def fill() -> None:
    """The history, once: reused while the number of bench incidents, entries and users match."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from incidents.markup import render_markdown
    from incidents.models import Incident, Service, StatusUpdate, TimelineEntry

    User = get_user_model()
    web = Incident.objects.filter(source=Incident.Source.WEB)
    if (
        web.count() == INCIDENTS
        # The fan-out measurement adds a few entries to one incident each run.
        and ENTRIES <= TimelineEntry.objects.filter(incident__source=Incident.Source.WEB).count() <= ENTRIES + 5000
        and User.objects.filter(username__startswith="bench-").count() == USERS
    ):
        print(f"Reusing the bench database ({INCIDENTS:,} incidents, {ENTRIES:,} entries, {USERS:,} users).")
        return
    started = time.perf_counter()
    print(f"Filling the bench database: {INCIDENTS:,} incidents, {ENTRIES:,} timeline entries, {USERS:,} users…")
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE incidents_incident, incidents_alertgroup, incidents_statusupdate, "
            "incidents_timelineentry, incidents_notification, incidents_subscription CASCADE"
        )
    User.objects.filter(username__startswith="bench-").delete()
    password = make_password("bench")
    users = User.objects.bulk_create(
        User(username=f"bench-{n:05}", password=password, email=f"bench-{n:05}@example.com", first_name=f"User {n}")
        for n in range(USERS - 4)
    )
    roles = []
    for role in ["Reporter", "Responder", "Manager", "Viewer"]:
        user = User.objects.create(username=f"bench-{role.lower()}", password=password, email=f"{role}@example.com")
        user.groups.add(Group.objects.get(name=role))
        roles.append(user)
    Group.objects.get(name="Responder").user_set.add(*users[:50])
    services = [Service.objects.get_or_create(name=f"Service {i}")[0] for i in range(SERVICES)]
    severities = list(Incident.Severity)
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / INCIDENTS
    batch = 5000
    for first in range(0, INCIDENTS, batch):
        with transaction.atomic():
            rows = []
            for i in range(first, min(first + batch, INCIDENTS)):
                is_open = i >= INCIDENTS - OPEN_INCIDENTS
                status = ["reported", "acknowledged", "mitigated"][i % 3] if is_open else "closed"
                at = start + step * i
                rows.append(
                    Incident(
                        title=f"Checkout errors {i} on the payment page" if i % 5 else f"Search is slow ({i})",
                        description=f"Customers see error {i % 97} when paying.\n\n" + "Some **context**. " * 20,
                        impact="Some users cannot pay.",
                        logs="ERROR upstream timed out\n" * 20,
                        occurred_at=at,
                        reported_at=at,
                        acknowledged_at=None if is_open else at + timedelta(minutes=3),
                        resolved_at=None if is_open else at + timedelta(minutes=50),
                        closed_at=None if is_open else at + timedelta(days=1),
                        severity=severities[i % 4],
                        status=status,
                        service=services[i % SERVICES],
                        reporter=users[i % len(users)],
                        lead=users[i % 50],
                        public=i % 10 == 0 or is_open,
                    )
                )
            created = Incident.objects.bulk_create(rows)
            StatusUpdate.objects.bulk_create(
                StatusUpdate(incident=incident, author=roles[1], message="We are on it.", public=True)
                for incident in created
                if incident.public
            )
        print(f"  {min(first + batch, INCIDENTS):,} incidents", flush=True)
    busy = web.order_by("-pk").first()
    # Timeline entries in SQL: ENTRIES spread over the incidents, BUSY_ENTRIES on the newest one.
    rest = ENTRIES - BUSY_ENTRIES
    low = web.order_by("pk").values_list("pk", flat=True).first()
    text = NOTE.format(svc="the payment gateway", n=42)
    # What TimelineEntry.save() stores beside the text (bulk inserts must do it themselves).
    html = render_markdown(text)
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")  # the filling statements take longer than a request may
        cursor.execute(
            f"""
            INSERT INTO {TimelineEntry._meta.db_table} (incident_id, created_at, author_id, kind, text, html, data)
            SELECT %(low)s + (g %% %(n)s), i.reported_at + (g / %(n)s) * interval '4 minutes', %(author)s,
                   CASE WHEN g %% 4 = 0 THEN 'status_change' ELSE 'note' END,
                   CASE WHEN g %% 4 = 0 THEN '' ELSE %(text)s END,
                   CASE WHEN g %% 4 = 0 THEN '' ELSE %(html)s END,
                   CASE WHEN g %% 4 = 0 THEN '{{"old": "reported", "new": "acknowledged"}}'::jsonb
                        ELSE '{{}}'::jsonb END
            FROM generate_series(0, %(rest)s - 1) AS g
            JOIN {Incident._meta.db_table} i ON i.id = %(low)s + (g %% %(n)s)
            """,
            {"low": low, "n": INCIDENTS - 1, "author": roles[1].pk, "text": text, "html": html, "rest": rest},
        )
        cursor.execute(
            f"""
            INSERT INTO {TimelineEntry._meta.db_table} (incident_id, created_at, author_id, kind, text, html, data)
            SELECT %(busy)s, now() - (%(count)s - g) * interval '1 minute', %(author)s, 'note',
                   %(text)s, %(html)s, '{{}}'
            FROM generate_series(1, %(count)s) AS g
            """,
            {"busy": busy.pk, "count": BUSY_ENTRIES, "author": roles[1].pk, "text": text, "html": html},
        )
        cursor.execute("ANALYZE")
    after_fill(busy)
    print(f"  filled in {time.perf_counter() - started:.0f} s", flush=True)


def after_fill(busy) -> None:
    """Hook for derived columns (kept in step by the app when rows are written one by one)."""
    from incidents.statuspage import cache

    cache.bump()


# --- measuring ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {**os.environ, **ENV}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "incidentsite.wsgi",
            f"--workers={WORKERS}",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
            "--backlog=2048",
        ],
        cwd=ROOT,
        env=env,
    )
    # Ready when every worker answers: the port opens long before the workers have imported Django.
    import urllib.request

    deadline, answered = time.monotonic() + 120, 0
    while time.monotonic() < deadline and answered < WORKERS * 4:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with code {process.returncode} before answering (its log is above)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/hello/", timeout=5) as answer:
                answered += answer.status == 200
        except OSError:
            time.sleep(0.5)
    if answered < WORKERS * 4:
        process.kill()
        sys.exit("gunicorn did not answer within 120 s")
    return process


def wrk(url: str, *, headers: dict[str, str] | None = None, script: str | None = None, seconds: int = SECONDS) -> dict:
    command = ["wrk", f"-t{min(CONNECTIONS, 2)}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout=10s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", script]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rate": rate,
        "p50": latency(output, "50%"),
        "p99": latency(output, "99%"),
        "bad": int(bad.group(1)) if bad else 0,
        "errors": errors.group(1) if errors else "",
    }


def latency(output: str, which: str) -> float:
    """wrk prints '50%  12.34ms' (or us, or s): milliseconds."""
    value, unit = re.search(rf"{which}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def queries_of(url: str, headers: dict) -> int:
    """Queries one request costs once warm (a cached status page: its generation look-up)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(**{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def insert_loop(seconds: float) -> float:
    """Rows per second of a psycopg loop inserting one row per transaction (the intake's floor)."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_insert_reference (id bigserial PRIMARY KEY, body text, at timestamptz)"
        )
        conn.execute("TRUNCATE bench_insert_reference")
        rows, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("INSERT INTO bench_insert_reference (body, at) VALUES (%s, now())", [f"row {rows}"])
            rows += 1
        return rows / (time.perf_counter() - started)


INTAKE_LUA = r"""
local counter = 0
local threads = 0
function setup(thread) thread:set("id", threads); threads = threads + 1 end
function init(args)
  mode = args[1]
  run = args[2]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
end
request = function()
  counter = counter + 1
  local key = run .. "-" .. id .. "-" .. counter
  local group = key
  if mode == "one" then group = run end
  local body = string.format([[{"receiver":"beacon","status":"firing","alerts":[{"status":"firing",
"labels":{"alertname":"Bench%s","service":"service-1","severity":"high","instance":"%s"},
"annotations":{"summary":"Bench alert %s"},"startsAt":"2026-11-27T09:41:42.742Z","endsAt":"0001-01-01T00:00:00Z",
"generatorURL":"http://prometheus.example/graph","fingerprint":"%s"}],
"groupLabels":{"alertname":"Bench%s","service":"service-1"},
"commonLabels":{"alertname":"Bench%s","service":"service-1","severity":"high"},
"commonAnnotations":{"summary":"Bench alert"},"externalURL":"http://alertmanager.example","version":"4",
"groupKey":"{}:{alertname=\"Bench%s\"}","truncatedAlerts":0}]], group, key, key, key, group, group, group)
  return wrk.format(nil, nil, nil, body)
end
"""


def intake(port: int, token: str, mode: str, *, seconds: int, path: str = "/integrations/alertmanager/") -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(INTAKE_LUA)
    # A new run name each round: "new" opens new groups, "one" a new group per round.
    run = f"r{time.time_ns()}{mode}"
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout=10s", "-s", script.name]
    url = f"http://127.0.0.1:{port}{path}"
    output = subprocess.run([*command, url, "--", mode, run, token], capture_output=True, text=True, check=True)
    os.unlink(script.name)
    text = output.stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50": latency(text, "50%"),
        "p99": latency(text, "99%"),
        "bad": int(bad.group(1)) if bad else 0,
        "errors": "",
    }


def clean_intake() -> None:
    """Forget what earlier intake runs created, so the history keeps its size."""
    from incidents.models import AlertGroup, Incident

    AlertGroup.objects.all().delete()
    Incident.objects.exclude(source=Incident.Source.WEB).delete()


FANOUT_SAMPLES = 100


def fanout() -> dict:
    """Post a public update to an incident 200 email users follow, through the test client."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.targets import FANOUT_SUBSCRIBERS
    from incidents.models import Incident, Subscription

    settings.ALLOWED_HOSTS = ["testserver"]
    User = get_user_model()
    incident = Incident.objects.filter(source="web", status="acknowledged").order_by("-pk").first()
    followers = User.objects.filter(username__startswith="bench-0").order_by("pk")[:FANOUT_SUBSCRIBERS]
    Subscription.objects.filter(incident=incident).delete()
    Subscription.objects.bulk_create(Subscription(user=u, incident=incident) for u in followers)
    client = Client()
    client.force_login(User.objects.get(username="bench-responder"))
    url = f"/incidents/{incident.ref}/update/"
    # 100 timed posts (after one to warm up): with 20, the "95th percentile" was the slowest one
    # or two, whatever a checkpoint happened to do to them.
    times = []
    for n in range(FANOUT_SAMPLES + 1):
        started = time.perf_counter()
        answer = client.post(url, {"message": f"Bench update {n}", "public": "on"})
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 302, answer.status_code
    with CaptureQueriesContext(connection) as queries:
        client.post(url, {"message": "Bench update, counted", "public": "on"})
    times = times[1:]
    return {"p50": statistics.median(times), "p95": statistics.quantiles(times, n=20)[-1], "queries": len(queries)}


DELIVERY_PORT = 19260  # the SMTP sink's port while the benchmark runs


def email_delivery(backend: str = "db") -> dict:
    """One real worker delivers FANOUT_SUBSCRIBERS emails to a real SMTP server (the test suite's
    aiosmtpd sink on loopback, incidents/tests/standins.py): seconds from the worker's start
    (Django's start-up included) until it has emptied the queue, how many messages the server
    accepted, and over how many SMTP connections. `backend`: "db", a `db_worker` on PostgreSQL's
    task table; "rq", an `rqworker --burst` on a private redis-server (TASKS_BACKEND=rq)."""
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    from bench.targets import FANOUT_SUBSCRIBERS
    from incidents.models import Notification
    from incidents.notifications import delivery
    from incidents.notifications import outbox as notifications
    from incidents.tests.servers import RedisServer
    from incidents.tests.standins import SmtpSink

    with tempfile.TemporaryDirectory(prefix="beacon-bench-smtp-") as work:
        sink = SmtpSink(DELIVERY_PORT, Path(work))
        sink.start()
        redis = RedisServer(Path(work)).start() if backend == "rq" else None
        try:
            Notification.objects.filter(event_key="bench-delivery").delete()
            # Only these emails: the fan-out measurement's queued deliveries are forgotten.
            DBTaskResult.objects.filter(queue_name="email").delete()
            with transaction.atomic():
                notifications.write(
                    [
                        Notification(
                            event_key="bench-delivery",
                            channel="email",
                            recipient=f"bench{i}@example.com",
                            subject=f"Bench update {i}",
                            body_text="A status update, as a follower receives it.\n" * 20,
                        )
                        for i in range(FANOUT_SUBSCRIBERS)
                    ]
                )
            env = {
                **os.environ,
                **ENV,
                "DJANGO_SETTINGS_MODULE": "incidentsite.settings",
                "EMAIL_URL": f"smtp://127.0.0.1:{DELIVERY_PORT}",
                "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
                "LOG_LEVEL": "WARNING",
            }
            if redis is None:
                delivery.enqueue(
                    list(Notification.objects.filter(event_key="bench-delivery").values_list("pk", "channel"))
                )
                worker = [
                    "db_worker", "--queue-name", "email", "--batch", "--no-reload", "--no-startup-delay",
                    "--interval", "0.1",
                ]  # fmt: skip
            else:
                env.update(TASKS_BACKEND="rq", REDIS_URL=redis.url)
                enqueue = (
                    "from incidents.models import Notification; from incidents.notifications import delivery; "
                    "delivery.enqueue(list(Notification.objects.filter(event_key='bench-delivery')"
                    ".values_list('pk', 'channel')))"
                )
                subprocess.run(  # noqa: S603 - our own manage.py, the tasks enqueued on RQ
                    [sys.executable, "manage.py", "shell", "-c", enqueue], cwd=ROOT, env=env, check=True, timeout=120
                )
                worker = ["rqworker", "email", "--burst"]
            started = time.perf_counter()
            subprocess.run(  # noqa: S603 - our own manage.py
                [sys.executable, "manage.py", *worker], cwd=ROOT, env=env, check=True, timeout=300,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            received = sink.received()
            return {
                "seconds": seconds,
                "received": len(received),
                "connections": len({r["peer"] for r in received}),
                "sent": Notification.objects.filter(event_key="bench-delivery", state="sent").count(),
            }
        finally:
            if redis is not None:
                redis.stop()
            sink.stop()
            Notification.objects.filter(event_key="bench-delivery").delete()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    except OSError:
        memory = 0
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory} GiB RAM, {platform.system()} {platform.release()}; "
        f"load average at the end {load} (other work on the machine skews every number; compare ratios)"
    )


def commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        return rev.stdout.strip() + (" (with uncommitted changes)" if dirty.strip() else "")
    except OSError:
        return "unknown"


def main() -> int:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode:
        sys.exit("wrk is missing: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk")
    setup_django()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection

    from bench.targets import DELIVERY_SECONDS, FANOUT_P95_MS, FANOUT_SUBSCRIBERS, HTTP_TARGETS, INTAKE_TARGETS
    from incidents import roles
    from incidents.models import Incident, Integration, TimelineEntry

    call_command("migrate", verbosity=0)
    clean_intake()
    fill()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as autovacuum keeps them on a live database

    User = get_user_model()
    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"email": "bench-manager@example.com"})
    manager.groups.add(Group.objects.get(name=roles.MANAGER))

    def session_cookie(user) -> dict:
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        return {"Cookie": f"sessionid={session.session_key}"}

    signed_in = session_cookie(User.objects.get(username="bench-responder"))
    signed_in_manager = session_cookie(manager)
    web = Incident.objects.filter(source="web")
    busy = web.order_by("-pk").first()
    public_open = web.public().open().order_by("-pk").first()
    Integration.objects.filter(name="bench").delete()
    integration = Integration(name="bench", kind="alertmanager")
    token = integration.set_new_token()
    integration.save()

    pages = {
        "hello": ("/bench/hello/", {}),
        "rows": ("/bench/rows/", signed_in),
        "status page": ("/status/", {}),
        "status incident page": (f"/status/incidents/{public_open.ref}/", {}),
        "status feed": ("/status/feed.atom", {}),
        "dashboard": ("/", signed_in),
        "incident list": ("/incidents/", signed_in),
        "list, filtered": ("/incidents/?severity=critical&status=closed&sort=severity", signed_in),
        "list, searched": ("/incidents/?q=checkout", signed_in),
        "incident page (200+ entries)": (f"/incidents/{busy.ref}/", signed_in),
        # A manager's view of the year (incidents/reports/): aggregates in SQL over the whole history.
        "reports": ("/reports/", signed_in_manager),
    }
    only = [p.strip() for p in os.environ.get("BENCH_ONLY", "").split(";") if p.strip()]
    port = free_port()
    server = start_gunicorn(port)
    results: dict[str, dict] = {}
    try:
        from bench.targets import HTTP_TARGETS as targets

        chosen = [name for name in pages if not only or name in only or name in ("hello", "rows")]
        for name in chosen:
            url, headers = pages[name]
            queries = queries_of(url, headers)
            subprocess.run(  # warm every worker: templates compiled, connections open
                ["wrk", "-t1", "-c8", "-d1s", *sum((["-H", f"{k}: {v}"] for k, v in headers.items()), [])]
                + [f"http://127.0.0.1:{port}{url}"],
                capture_output=True,
            )
            results[name] = {"runs": [], "queries": queries, "url": url}
        slice_seconds = max(1, SECONDS // ROUNDS)
        for _ in range(ROUNDS):
            for name in chosen:
                url, headers = pages[name]
                reference = targets.get(name, (None,))[0]
                run = wrk(f"http://127.0.0.1:{port}{url}", headers=headers, seconds=slice_seconds)
                if reference:  # the reference again, at once: the ratio of this round
                    ref_url, ref_headers = pages[reference]
                    ref_run = wrk(f"http://127.0.0.1:{port}{ref_url}", headers=ref_headers, seconds=slice_seconds)
                    results[reference]["runs"].append(ref_run)
                    run["ratio"] = run["rate"] / ref_run["rate"] if ref_run["rate"] else 0.0
                results[name]["runs"].append(run)
        for name in chosen:
            runs = results[name]["runs"]
            results[name].update(
                rate=statistics.median(r["rate"] for r in runs),
                p50=statistics.median(r["p50"] for r in runs),
                p99=max(r["p99"] for r in runs),
                bad=sum(r["bad"] for r in runs),
                errors="; ".join(r["errors"] for r in runs if r["errors"]),
            )
            if any("ratio" in r for r in runs):
                results[name]["ratio"] = statistics.median(r["ratio"] for r in runs if "ratio" in r)
            print(f"  {name}: {results[name]['rate']:.0f} req/s", flush=True)
        intake_results = {}
        if not only or any(name.startswith("intake") for name in only):
            # In rounds, as the pages: the insert loop waits on the disk's flush at every commit,
            # and on this kind of machine that wait moved the reference between 2,000 and 6,800
            # rows/s from one 3-second run to the next. Each round measures the reference right
            # before the intake, and a ratio is the median of the rounds'.
            slice_seconds = max(1, SECONDS // ROUNDS)
            for name, mode in [("intake, new group each payload", "new"), ("intake, new alerts into one group", "one")]:
                runs = []
                for _ in range(ROUNDS):
                    reference = insert_loop(slice_seconds)
                    # For information (no target): the same bodies posted to a bare Django view
                    # that stores each as one row (bench/views.py), through the same server.
                    bare = intake(port, token, mode, seconds=slice_seconds, path="/bench/insert/")["rate"]
                    run = intake(port, token, mode, seconds=slice_seconds)
                    ratios = {"ratio": run["rate"] / reference, "of_bare": run["rate"] / bare}
                    runs.append({**run, "reference": reference, "bare": bare, **ratios})
                intake_results[name] = {
                    "rate": statistics.median(r["rate"] for r in runs),
                    "reference": statistics.median(r["reference"] for r in runs),
                    "ratio": statistics.median(r["ratio"] for r in runs),
                    "bare": statistics.median(r["bare"] for r in runs),
                    "of_bare": statistics.median(r["of_bare"] for r in runs),
                    "p50": statistics.median(r["p50"] for r in runs),
                    "p99": max(r["p99"] for r in runs),
                    "bad": sum(r["bad"] for r in runs),
                }
                rounds = ", ".join(f"{r['rate']:.0f}/{r['reference']:.0f}/{r['bare']:.0f}" for r in runs)
                print(
                    f"  {name}: {intake_results[name]['rate']:.0f} payloads/s "
                    f"(rounds, payloads/reference rows/bare view: {rounds})",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    fan = fanout() if not only or "fan-out" in only else None
    mail = email_delivery() if not only or "email delivery" in only else None
    # For information (no target): the same emails through one RQ worker (TASKS_BACKEND=rq).
    mail_rq = email_delivery("rq") if not only or "email delivery" in only else None
    clean_intake()
    integration.delete()

    lines, failed = [], []
    header = "| page | URL | req/s | p50 ms | p99 ms | queries | reference | ratio | target |"
    lines += [header, "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for name, r in results.items():
        target = HTTP_TARGETS.get(name)
        ratio = r.get("ratio") if target else None
        verdict = ""
        if target and ratio < target[1]:
            verdict = " **under**"
            failed.append(name)
        if r["bad"] or r["errors"]:
            verdict += f" ({r['bad']} non-2xx, socket errors: {r['errors'] or 'none'})"
            failed.append(name)
        lines.append(
            f"| {name} | `{r['url']}` | {r['rate']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['queries']} | "
            f"{target[0] if target else '—'} | {f'{ratio:.2f}' if ratio is not None else '—'} | "
            f"{f'≥ {target[1]}' if target else '—'}{verdict} |"
        )
    if intake_results:
        lines += [
            "",
            "| intake | payloads/s | p50 ms | p99 ms | reference rows/s | ratio | target "
            "| bare insert view req/s | share of it |",
        ]
        lines += ["| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, r in intake_results.items():
            ratio = r["ratio"]
            verdict = "" if ratio >= INTAKE_TARGETS[name] and not r["bad"] else " **under**"
            if r["bad"]:
                verdict += f" ({r['bad']} non-2xx)"
            if verdict:
                failed.append(name)
            lines.append(
                f"| {name} | {r['rate']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['reference']:,.0f} | "
                f"{ratio:.3f} | ≥ {INTAKE_TARGETS[name]}{verdict} | {r['bare']:,.0f} | {r['of_bare']:.2f} |"
            )
    if fan:
        verdict = "" if fan["p95"] < FANOUT_P95_MS else " **over**"
        if verdict:
            failed.append("fan-out")
        lines += [
            "",
            "| fan-out | p50 ms | p95 ms | queries | target |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| public update, 200 email followers | {fan['p50']:.1f} | {fan['p95']:.1f} | {fan['queries']} | "
            f"p95 < {FANOUT_P95_MS} ms{verdict} |",
        ]
    if mail:
        ok = mail["seconds"] < DELIVERY_SECONDS and mail["sent"] == mail["received"] == FANOUT_SUBSCRIBERS
        verdict = "" if ok else " **over**"
        if verdict:
            failed.append("email delivery")
        lines += [
            "",
            "| email delivery | seconds | emails accepted | SMTP connections | target |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| one db_worker, {FANOUT_SUBSCRIBERS} emails to a local SMTP server | {mail['seconds']:.1f} | "
            f"{mail['received']} | {mail['connections']} | < {DELIVERY_SECONDS} s{verdict} |",
        ]
    if mail_rq:
        complete = mail_rq["sent"] == mail_rq["received"] == FANOUT_SUBSCRIBERS
        if not complete:
            failed.append("email delivery, RQ")
        lines.append(
            f"| one rqworker (Redis), the same emails | {mail_rq['seconds']:.1f} | {mail_rq['received']} | "
            f"{mail_rq['connections']} | — (for information){'' if complete else ' **not all sent**'} |"
        )
    sizes = (
        f"{web.count():,} incidents, {TimelineEntry.objects.count():,} timeline entries, {User.objects.count():,} users"
    )
    setup = (
        f"PostgreSQL {connection.cursor().connection.info.server_version // 10000}, {sizes}; gunicorn {WORKERS} sync "
        f"workers, DEBUG off; wrk {CONNECTIONS} connections, each page {ROUNDS} times for "
        f"{max(1, SECONDS // ROUNDS)} s right after its reference (ratio: the median of the rounds' ratios)"
    )
    table = "\n".join(lines)
    print(f"\n{setup}\n\n{table}\n")
    report = (
        "# Benchmark results\n\n"
        "Written by `make bench` (bench/http.py); targets in bench/targets.py.\n\n"
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n- Commit: {commit()}\n- Machine: {machine()}\n"
        f"- Set-up: {setup}\n"
        f"- Command: `{' '.join(f'{k}={v}' for k, v in os.environ.items() if k.startswith('BENCH_'))} "
        "DATABASE_URL=postgres://… make bench`\n\n"
        f"{table}\n\n" + (f"Under target: {', '.join(failed)}.\n" if failed else "Every ratio meets its target.\n")
    )
    (BENCH / "results.md").write_text(report)
    print("Under target: " + ", ".join(failed) if failed else "Every ratio meets its target.")
    print(f"Written to {BENCH / 'results.md'}")
    return 1 if failed else 0


def fill_only() -> None:
    """Migrate and fill the database, nothing else (`bench/run.py fill`)."""
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill()


def profile(url: str) -> None:
    """Profile one page in this process with pyinstrument (signed in as the bench responder)."""
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from pyinstrument import Profiler

    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-responder"))
    client.get(url)
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(10):
            client.get(url)
    print(profiler.output_text(unicode=True, color=False, show_all=os.environ.get("BENCH_PROFILE_ALL") == "1"))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "profile":
        profile(sys.argv[2])
    elif sys.argv[1:2] == ["fill"]:
        fill_only()
    else:
        sys.exit(main())
