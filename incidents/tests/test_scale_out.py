"""Beacon scaled out, for real: two gunicorn processes and two RQ workers against one PostgreSQL
(through PgBouncer in transaction mode, DB_BEHIND_PGBOUNCER=1) and one Redis, with a sweeper
holding its lock over DIRECT_DATABASE_URL.

Ten public updates posted through the API, half to each gunicorn, tell 500 outside
subscribers; one RQ worker is SIGKILLed (with its work horse) in the middle of a send; the
other worker, the sweeper and the leases deliver every message, none twice (the one killed
mid-send at most twice, with one Message-ID: the design's only duplicate window).

Also: PgBouncer refuses Beacon's default connection (its startup options), which is why the
setting exists. Needs redis-server and pgbouncer (Debian packages; .ci/run installs them).
"""

import json
import os
import signal
import sys
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils.timezone import now
from rq import Worker

from incidents import workflow
from incidents.models import ApiToken, Incident, Notification, Service, Subscription
from incidents.tests.factories import make_incident
from incidents.tests.servers import (
    PGBOUNCER,
    REDIS_SERVER,
    PgBouncer,
    RedisServer,
    beacon_env,
    database_url,
    free_port,
    kill_machine,
    manage,
    start,
    stop,
    wait_until,
)
from incidents.tests.standins import SmtpSink

POSTGRES = connection.vendor == "postgresql"
QUEUES = ["default", "email", "slack", "webhooks", "escalations"]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SERVICES, SUBSCRIBERS = 10, 50

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
    pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (every process shares its database)"),
]


@pytest.fixture(autouse=True)
def _needs_servers():
    missing = [
        name for name, path in (("redis-server", REDIS_SERVER), ("pgbouncer", PGBOUNCER)) if not Path(path).exists()
    ]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"not installed: {', '.join(missing)} (apt-get install redis-server pgbouncer)")
        pytest.skip(f"not installed: {', '.join(missing)}")


def test_pgbouncer_in_transaction_mode_refuses_the_default_startup_options_and_takes_beacons_own(tmp_path):
    pooler = PgBouncer(pool_size=1).start()
    try:
        code = "from django.db import connection; connection.ensure_connection(); print('connected')"
        default = start(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            beacon_env(DATABASE_URL=pooler.url, DJANGO_SETTINGS_MODULE="incidentsite.settings"),
            tmp_path / "default.log",
        )
        assert default.wait(60) != 0
        assert "unsupported startup parameter: options" in (tmp_path / "default.log").read_text()
        env = beacon_env(
            DATABASE_URL=pooler.url,
            DB_BEHIND_PGBOUNCER="1",
            DIRECT_DATABASE_URL=database_url(),
            DJANGO_SETTINGS_MODULE="incidentsite.settings",
        )
        behind = start([sys.executable, "-c", f"import django; django.setup(); {code}"], env, tmp_path / "behind.log")
        assert behind.wait(60) == 0, (tmp_path / "behind.log").read_text()
        assert "connected" in (tmp_path / "behind.log").read_text()
    finally:
        pooler.stop()


def post(port: int, path: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 201, response.status
        return json.loads(response.read())


def wait_for_web(port: int, process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("gunicorn did not answer /healthz")


def test_two_web_processes_and_two_rq_workers_deliver_500_notifications_once_through_a_killed_worker(
    settings, tmp_path, responder
):
    # The audience: ten public incidents, each service followed by 50 outside addresses.
    incidents = []
    for n in range(SERVICES):
        service = Service.objects.create(name=f"Service {n}", slug=f"service-{n}")
        incident = make_incident(by=responder, service=service, title=f"Outage {n}", severity=Incident.Severity.MEDIUM)
        workflow.acknowledge(incident, by=responder)
        workflow.set_public(incident, by=responder, public=True)
        incidents.append(incident)
        Subscription.objects.bulk_create(
            Subscription(email=f"s{n}-{i}@outside.example", service=service) for i in range(SUBSCRIBERS)
        )
    token = ApiToken(user=responder, name="load")
    secret = token.set_new_token()
    token.save()
    before = set(Notification.objects.values_list("pk", flat=True))  # sent by this process's backend

    redis = RedisServer(tmp_path).start()
    pooler = PgBouncer(pool_size=4).start()
    sink = SmtpSink(free_port(), tmp_path)
    sink.start()
    env = beacon_env(
        DATABASE_URL=pooler.url,
        DB_BEHIND_PGBOUNCER="1",
        DIRECT_DATABASE_URL=database_url(),
        TASKS_BACKEND="rq",
        REDIS_URL=redis.url,
        EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
        SITE_URL="http://beacon.example",
    )
    processes = []
    try:
        webs = []
        for i in range(2):
            port = free_port()
            command = [GUNICORN, "-c", "deploy/gunicorn.conf.py", "incidentsite.wsgi:application"]
            command += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
            processes.append(start(command, env, tmp_path / f"web{i}.log"))
            webs.append(port)
        workers = {
            name: manage("rqworker", *QUEUES, "--with-scheduler", "--name", name, env=env, log=tmp_path / f"{name}.log")
            for name in ("doomed", "survivor")
        }
        processes += workers.values()
        sweeper = manage("run_sweeper", "--interval", "1", env=env, log=tmp_path / "sweeper.log")
        processes.append(sweeper)
        for port, process in zip(webs, processes[:2], strict=True):
            wait_for_web(port, process)

        started = time.monotonic()
        for n, incident in enumerate(incidents):
            post(
                webs[n % 2],
                f"/api/incidents/{incident.ref}/updates",
                secret,
                {"message": f"Update {n}", "public": True},
            )
        outside = Notification.objects.filter(recipient__endswith="@outside.example")
        assert outside.count() == SERVICES * SUBSCRIBERS  # 500 rows, written by both web processes

        # Kill the doomed worker in the middle of a send: hold every message in the sink's DATA
        # until the doomed worker's work horse is the one holding a claimed row, then SIGKILL its
        # process group (worker and horse). Held, the send cannot finish between the look and
        # the kill (with a merely slow sink it once did, and the row was "sent" before the kill).
        wait_until(lambda: len(sink.received()) >= 100, timeout=40, what="100 messages delivered")
        release = tmp_path / "release"
        held = tmp_path / "release.waiting"
        sink.set_mode(f"hold:{release}")
        rq_connection = redis_connection(redis.url)
        stranded = []

        def doomed_mid_send() -> bool:
            worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + "doomed", connection=rq_connection)
            job = worker.get_current_job() if worker else None
            if job is None or not job.args:
                return False
            row = Notification.objects.filter(pk=job.args[0], state="sending").first()
            if row is None or not held.exists() or row.recipient not in held.read_text().split():
                return False
            stranded.append(row.pk)
            return True

        wait_until(doomed_mid_send, timeout=20, every=0.05, what="the doomed worker held mid-send")
        kill_machine(workers["doomed"])  # the worker, its scheduler and its work horse
        sink.set_mode("ok")
        release.touch()
        assert workers["doomed"].returncode == -signal.SIGKILL

        # Two minutes later (the lease, delivery.LEASE), in a second: the sweeper re-enqueues it.
        [row_id] = stranded
        time.sleep(1)
        row = Notification.objects.get(pk=row_id)
        assert (row.state, row.attempts) == ("sending", 1)  # nobody else may take it yet
        Notification.objects.filter(pk=row_id, state="sending").update(lease_until=now() - timedelta(seconds=1))

        wait_until(
            lambda: not Notification.objects.exclude(pk__in=before).exclude(state="sent").exists(),
            timeout=60,
            what="every notification sent",
        )
        elapsed = time.monotonic() - started
        for process in processes:
            assert process.poll() is None or process is workers["doomed"], "a process died"
    finally:
        for process in processes:
            stop(process)
        sink.stop()
        pooler.stop()
        redis.stop()

    rows = Notification.objects.exclude(pk__in=before)
    assert set(rows.values_list("state", flat=True)) == {"sent"}
    # Every row has its own recipient and its own Message-ID; a copy sent twice keeps its id. (The
    # sink once read every Message-ID as empty in a full CI run: incident ids had grown to five
    # digits, the header was folded onto a second line, and the sink read only the first.)
    copies = Counter(to for to in sink.per_recipient().elements() if to.endswith("@outside.example"))
    ids = Counter(r["message_id"] for r in sink.received() if r["to"][0].endswith("@outside.example"))
    assert all(ids) and len(ids) == rows.count()
    assert len(copies) == rows.count()  # every row arrived
    twice = {address for address, n in copies.items() if n > 1}
    # Only the row killed mid-send may have arrived twice (if the sink kept the first copy).
    rescued = Notification.objects.get(pk=row_id)
    assert rescued.attempts == 2
    assert twice <= {rescued.recipient}
    assert copies.total() - len(copies) <= 1
    assert Counter(r for rr in sink.received() for r in rr["to"] if r.endswith("@outside.example")).keys() == {
        f"s{n}-{i}@outside.example" for n in range(SERVICES) for i in range(SUBSCRIBERS)
    }
    assert "swept" in (tmp_path / "sweeper.log").read_text()  # the stranded row, at least
    assert "holding the sweeper lock" in (tmp_path / "sweeper.log").read_text()
    logs = "".join((tmp_path / f"web{i}.log").read_text() for i in range(2))
    assert "Traceback" not in logs
    assert elapsed < 60


def redis_connection(url: str):
    from redis import Redis

    return Redis.from_url(url)
