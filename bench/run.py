"""Beacon's benchmark: the pages an on-call engineer loads, on a large history.

Two modes. The default, HTTP mode, is bench/loadtest.py: gunicorn and wrk against PostgreSQL,
each page compared with reference pages in the same run (`make bench`, see there).

The client mode (this file):

    make bench BENCH_MODE=client                 # SQLite file bench/bench.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/beacon_bench make bench BENCH_MODE=client
    BENCH_INCIDENTS=200000 make bench BENCH_MODE=client   # a bigger history (default 50,000)

It fills its own database once (re-used while the size matches), then requests each page
through Django's test client in this process (no network, no server) and prints the
median, 95th percentile and worst time and the number of SQL queries. Targets are in
TARGETS: a page over its target is printed with "SLOW" and the command exits 1.
"""

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if __name__ == "__main__" and (sys.argv[1:2] or [os.environ.get("BENCH_MODE", "http")])[0] in {
    "http",
    "profile",
    "fill",
}:
    from bench import loadtest

    if sys.argv[1:2] == ["profile"]:  # bench/run.py profile /incidents/
        loadtest.profile(sys.argv[2])
        sys.exit(0)
    if sys.argv[1:2] == ["fill"]:  # bench/run.py fill: only fill the database
        loadtest.fill_only()
        sys.exit(0)
    sys.exit(loadtest.main())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incidentsite.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'bench' / 'bench.sqlite3'}"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils.timezone import now  # noqa: E402

from incidents.models import Incident, Service, StatusUpdate, TimelineEntry  # noqa: E402

INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "50000"))
ENTRIES_PER_INCIDENT = 6
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))

# Milliseconds at the 95th percentile, on the machine Beacon is developed on (2 cores).
from bench.targets import CLIENT_TARGETS_MS as TARGETS  # noqa: E402


def fill() -> None:
    if Incident.objects.count() == INCIDENTS:
        return
    print(f"Filling the benchmark database with {INCIDENTS:,} incidents…", flush=True)
    TimelineEntry.objects.all().delete()
    StatusUpdate.objects.all().delete()
    Incident.objects.all().delete()
    User = get_user_model()
    users = []
    for role in ["Reporter", "Responder", "Manager", "Viewer"]:
        user, _ = User.objects.get_or_create(username=f"bench-{role.lower()}")
        user.set_password("bench")
        user.save()
        user.groups.add(Group.objects.get(name=role))
        users.append(user)
    services = [Service.objects.get_or_create(name=f"Service {i}")[0] for i in range(20)]
    severities = list(Incident.Severity)
    start = now() - timedelta(days=3 * 365)
    batch = 5000
    for first in range(0, INCIDENTS, batch):
        with transaction.atomic():
            rows = []
            for i in range(first, min(first + batch, INCIDENTS)):
                # Almost all history is closed; a few dozen are open, as in real life.
                status = "closed" if i < INCIDENTS - 40 else ["reported", "acknowledged", "mitigated"][i % 3]
                at = start + timedelta(minutes=30 * i * (3 * 365 * 48) / INCIDENTS / 30)
                rows.append(
                    Incident(
                        title=f"Checkout errors {i} on the payment page",
                        description=f"Customers see error {i % 97} when paying. " * 5,
                        impact="Some users cannot pay.",
                        logs="ERROR upstream timed out\n" * 20,
                        occurred_at=at,
                        reported_at=at,
                        severity=severities[i % 4],
                        status=status,
                        service=services[i % len(services)],
                        reporter=users[0],
                        lead=users[1],
                        public=i % 10 == 0,
                    )
                )
            created = Incident.objects.bulk_create(rows)
            TimelineEntry.objects.bulk_create(
                TimelineEntry(
                    incident=incident, author=users[1], kind="note", text=f"note {n}", created_at=incident.reported_at
                )
                for incident in created
                for n in range(ENTRIES_PER_INCIDENT)
            )
            StatusUpdate.objects.bulk_create(
                StatusUpdate(incident=incident, author=users[1], message="We are on it.", public=True)
                for incident in created
                if incident.public
            )
        print(f"  {min(first + batch, INCIDENTS):,}", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def measure(client: Client, url: str, **headers) -> tuple[list[float], int]:
    client.get(url, **headers)  # warm caches, compile templates
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **headers)
    return times, len(queries)


def main() -> int:
    call_command("migrate", verbosity=0)
    fill()
    settings.ALLOWED_HOSTS = ["testserver"]
    # Production settings, except static files are served unhashed (no collectstatic needed).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    responder = get_user_model().objects.get(username="bench-responder")
    client = Client()
    client.force_login(responder)
    busy = Incident.objects.order_by("-pk").first()
    if TimelineEntry.objects.filter(incident=busy).count() < 200:  # the incident page's worst case
        TimelineEntry.objects.bulk_create(
            TimelineEntry(incident=busy, author=responder, kind="note", text=f"busy {n}") for n in range(200)
        )
    from incidents.models import ApiToken

    token_row = ApiToken(user=responder, name="bench")
    token = token_row.set_new_token()
    token_row.save()
    pages = {
        "dashboard": ("/", {}),
        "dashboard fragment": ("/", {"HTTP_HX_REQUEST": "true"}),
        "list": ("/incidents/", {}),
        "list, filtered": ("/incidents/?severity=critical&service=service-3&sort=severity", {}),
        "list, search": ("/incidents/?q=error+42", {}),
        "incident page": (f"/incidents/{busy.ref}/", {}),
        "status page": ("/status/", {}),
        "api list": ("/api/incidents?limit=50", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
    }
    print(
        f"\n{connection.vendor}, {Incident.objects.count():,} incidents, {TimelineEntry.objects.count():,} timeline "
        f"entries, {ROUNDS} requests per page\n"
    )
    print(f"{'page':<22}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}{'queries':>9}{'target':>9}")
    slow = 0
    for name, (url, headers) in pages.items():
        times, queries = measure(Client() if name == "status page" else client, url, **headers)
        p95 = statistics.quantiles(times, n=20)[-1]
        verdict = "" if p95 <= TARGETS[name] else "  SLOW"
        slow += bool(verdict)
        print(
            f"{name:<22}{statistics.median(times):>10.1f}{p95:>9.1f}{max(times):>9.1f}{queries:>9}"
            f"{TARGETS[name]:>9}{verdict}"
        )
    token_row.delete()
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
