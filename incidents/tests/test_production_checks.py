"""With DEBUG off, an unsafe configuration stops start-up (incidents/checks.py); a worker on a
queue Beacon never uses refuses to start."""

import pytest
from django.core.management import CommandError, call_command

from incidents.checks import production_safety
from incidents.tests.test_setup import run_python

GOOD_KEY = "k" * 60


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = GOOD_KEY
    settings.ALLOWED_HOSTS = ["beacon.example.com"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "email"]}}
    settings.METRICS_TOKEN = "scrape-me"
    settings.METRICS_PUBLIC = False
    return settings


def ids(settings) -> list[str]:
    return [error.id for error in production_safety()]


def test_a_safe_configuration_passes(production):
    assert ids(production) == []


@pytest.mark.parametrize("key", ["short-key", "django-insecure-" + "x" * 60])
def test_a_weak_secret_key_is_an_error(production, key):
    production.SECRET_KEY = key
    errors = production_safety()
    assert [e.id for e in errors] == ["beacon.E001"] and errors[0].is_serious()


def test_empty_allowed_hosts_is_an_error(production):
    production.ALLOWED_HOSTS = []
    assert ids(production) == ["beacon.E002"]


@pytest.mark.parametrize("backend", ["immediate.ImmediateBackend", "dummy.DummyBackend"])
def test_a_task_backend_that_runs_tasks_in_the_request_or_drops_them_is_an_error(production, backend):
    production.TASKS = {"default": {"BACKEND": f"django_tasks.backends.{backend}", "QUEUES": []}}
    assert ids(production) == ["beacon.E003"]


def test_open_metrics_must_be_asked_for(production):
    production.METRICS_TOKEN = ""
    assert ids(production) == ["beacon.E004"]
    production.METRICS_PUBLIC = True
    assert ids(production) == []


def test_debug_on_checks_nothing(production):
    production.DEBUG = True
    production.SECRET_KEY = "short"
    production.ALLOWED_HOSTS = []
    assert ids(production) == []


def test_manage_py_and_the_wsgi_application_refuse_to_start():
    env = dict(DEBUG="0", SECRET_KEY="too-short", ALLOWED_HOSTS="beacon.example.com", METRICS_TOKEN="t")
    check = run_python(
        "import sys; sys.argv=['manage.py','check']; import runpy; runpy.run_path('manage.py', run_name='__main__')",
        **env,
    )
    assert check.returncode != 0 and "beacon.E001" in check.stderr and "SECRET_KEY is too weak" in check.stderr
    wsgi = run_python("import incidentsite.wsgi", **env)
    assert wsgi.returncode != 0 and "Beacon refuses to start" in wsgi.stderr
    fine = run_python("import incidentsite.wsgi", **{**env, "SECRET_KEY": GOOD_KEY})
    assert fine.returncode == 0, fine.stderr


def test_a_worker_on_an_unknown_queue_refuses_to_start(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "email"]}}
    with pytest.raises(CommandError, match="Unknown queue 'emial'"):
        call_command("db_worker", "--queue-name", "emial", "--batch", "--no-reload")
    with pytest.raises(CommandError, match="Unknown queue 'smss'"):
        call_command("db_worker", "--queue-name", "*", "--exclude-queues", "email,smss", "--batch", "--no-reload")


@pytest.mark.django_db(transaction=True)
def test_a_worker_on_known_queues_runs(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "email"]}}
    call_command(
        "db_worker", "--queue-name", "email,default", "--batch", "--no-reload", "--no-startup-delay", verbosity=0
    )
