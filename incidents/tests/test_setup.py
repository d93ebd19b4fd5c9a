"""Settings, the demo data and the health check: what a new team meets first."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils.timezone import now

from incidents.models import Incident, Service

ROOT = Path(__file__).resolve().parents[2]


# What the test run sets for itself (pyproject's pytest-env, the browser suite) must not leak
# into the "fresh start" these tests simulate.
TEST_ONLY_ENV = {
    "SECRET_KEY",
    "DEBUG",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "SECURE_SSL_REDIRECT",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def clean_env(**env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}
    environment.update(env)
    return environment


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environment = clean_env(**env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_production_without_secret_key_refuses_to_start_naming_the_variable():
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup()"
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file-" + "x" * 50)
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup();"
        "from django.conf import settings; print(settings.SECRET_KEY)"
    )
    result = run_python(code, SECRET_KEY_FILE=str(secret))
    assert result.stdout.strip() == "from-a-file-" + "x" * 50


def test_database_url_picks_the_database():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup();"
        "from django.conf import settings; d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'])"
    )
    assert run_python(code, DEBUG="1").stdout.split()[0] == "django.db.backends.sqlite3"
    result = run_python(code, DEBUG="1", DATABASE_URL="postgres://u@db.example:5432/beacon")
    assert result.stdout.split() == ["django.db.backends.postgresql", "beacon"]


def test_cache_url_picks_the_cache_and_refuses_what_it_does_not_know():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup();"
        "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'])"
    )
    assert run_python(code, DEBUG="1").stdout.split()[0] == "django.core.cache.backends.locmem.LocMemCache"
    redis = "django.core.cache.backends.redis.RedisCache redis://cache.example:6379/1".split()
    assert run_python(code, DEBUG="1", REDIS_URL="redis://cache.example:6379/1").stdout.split() == redis
    assert run_python(code, DEBUG="1", CACHE_URL="redis://cache.example:6379/1").stdout.split() == redis
    result = run_python(code, DEBUG="1", CACHE_URL="memcached://cache.example")
    assert result.returncode != 0
    assert "CACHE_URL must start with redis://" in result.stderr


def test_deploy_check_passes_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env(
            SECRET_KEY="a-long-production-secret-key-" + "k" * 40, ALLOWED_HOSTS="beacon.example.com", DEBUG="0"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_demo_is_idempotent(db, settings, capsys):
    settings.DEBUG = True
    settings.REVIEW_REQUIRED_SEVERITIES = ["critical", "high"]  # the real close policy
    call_command("seed_demo", incidents=12)
    counts = (Incident.objects.count(), Service.objects.count())
    call_command("seed_demo", incidents=12)
    # The twelve asked for and one restricted security incident.
    assert (Incident.objects.count(), Service.objects.count()) == counts == (13, 4)
    restricted = Incident.objects.get(restricted=True)
    assert restricted.type.slug == "security" and restricted.lead.username == "security"
    assert restricted.participants.filter(username="viewer").exists()
    # The Security type asks its fields and review sections; the demo incident has values.
    assert list(restricted.type.custom_fields.values_list("name", flat=True)) == [
        "data_affected",
        "customers_notified",
        "credentials_rotated_on",
    ]
    assert list(restricted.type.review_sections.values_list("title", flat=True)) == [
        "Data exposure",
        "Disclosure obligations",
    ]
    assert restricted.custom_fields == {"data_affected": "unknown", "customers_notified": "no"}
    # Its response: the security checklist with some ticked, and every role held.
    assert restricted.tasks.filter(done_at__isnull=False).count() == 2
    assert restricted.tasks.filter(done_at__isnull=True, required=True).exists()
    assert sorted(restricted.role_assignments.values_list("user__username", flat=True)) == [
        "manager",
        "security",
        "viewer",
    ]
    out = capsys.readouterr().out
    for role in ["reporter", "responder", "manager", "viewer"]:
        assert role in out
    assert set(Incident.objects.values_list("status", flat=True)) >= {"reported", "acknowledged", "mitigated", "closed"}
    # Moving the history back keeps unset timestamps unset and the order of those that are set.
    assert not Incident.objects.filter(status="resolved", closed_at__isnull=False).exists()
    for incident in Incident.objects.filter(status="closed"):
        assert incident.reported_at <= incident.acknowledged_at <= incident.resolved_at <= incident.closed_at


def test_the_demo_has_an_audience_so_a_public_update_sends_mail(db, settings):
    """Run end to end as a new user would, an incident's public update reaches people: its
    reporter (who follows it), a follower of its service and the service's stakeholder list."""
    from incidents import workflow
    from incidents.models import Notification, Subscription

    settings.DEBUG = True
    call_command("seed_demo", incidents=12)
    call_command("seed_demo", incidents=12)  # once only: nobody is added twice
    checkout = Service.objects.get(name="Checkout")
    assert sorted(Subscription.objects.filter(service=checkout).values_list("email", flat=True)) == [
        "",
        "cto@partner.example",
        "support@partner.example",
    ]
    incident = workflow.report(
        by=get_user_model().objects.get(username="reporter"),
        title="Checkout returns 500",
        description="Card payments fail.",
        impact="Nobody can pay.",
        occurred_at=now(),
        severity="critical",
        service=checkout,
        public=True,
    )
    checkout.is_public = True
    checkout.save()
    workflow.post_update(incident, by=get_user_model().objects.get(username="responder"), message="On it.", public=True)
    told = set(Notification.objects.filter(incident=incident, channel="email").values_list("recipient", flat=True))
    audience = {"reporter@example.com", "viewer@example.com", "cto@partner.example", "support@partner.example"}
    assert audience | {"customer@example.net"} <= told


def test_seed_demo_refuses_in_production_unless_forced(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo")
    call_command("seed_demo", force=True, incidents=2)
    assert Incident.objects.count() == 3


def test_healthz(client, db):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_gone():
    """A real unreachable PostgreSQL (nothing listens on port 1), in a separate process."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup();"
        "from django.test import Client; r = Client(HTTP_HOST='localhost').get('/healthz');"
        "print(r.status_code, r.json()['status'])"
    )
    result = run_python(code, DEBUG="1", DATABASE_URL="postgres://postgres@127.0.0.1:1/beacon")
    assert result.stdout.split() == ["503", "unavailable"], result.stderr[-2000:]
