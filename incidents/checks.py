"""Start-up checks that refuse an unsafe production configuration.

With DEBUG off these are errors, not warnings: `manage.py` commands (migrate, the workers,
the sweeper) stop before they run, and incidentsite/wsgi.py runs them too, so gunicorn does
not serve. Registered in IncidentsConfig.ready() under the tag "beacon".
"""

from django.conf import settings
from django.core.checks import Error

# Task backends that run a task inside the request (the page waits for SMTP and Slack) or drop it.
UNSAFE_TASK_BACKENDS = {
    "django_tasks.backends.immediate.ImmediateBackend": "runs every task inside the request that queued it",
    "django_tasks.backends.dummy.DummyBackend": "never runs the tasks it is given",
}
MIN_SECRET_KEY_LENGTH = 50


def production_safety(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    errors = []
    key = settings.SECRET_KEY
    if len(key) < MIN_SECRET_KEY_LENGTH or key.startswith("django-insecure-"):
        errors.append(
            Error(
                f"SECRET_KEY is too weak: it has {len(key)} characters"
                + (
                    " and is a generated development key (django-insecure-…)"
                    if key.startswith("django-insecure-")
                    else ""
                )
                + f"; production needs at least {MIN_SECRET_KEY_LENGTH} random characters.",
                hint="Generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'",
                id="beacon.E001",
            )
        )
    if not settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "ALLOWED_HOSTS is empty: Beacon would answer no request.",
                hint="Set ALLOWED_HOSTS to the host names Beacon is reached by, e.g. beacon.example.com.",
                id="beacon.E002",
            )
        )
    backend = settings.TASKS["default"]["BACKEND"]
    if backend in UNSAFE_TASK_BACKENDS:
        errors.append(
            Error(
                f"TASKS_BACKEND is {backend}, which {UNSAFE_TASK_BACKENDS[backend]}: notifications, "
                "escalations and reminders would be slow or lost.",
                hint="Use django_tasks_db.DatabaseBackend (the default) with `manage.py db_worker` running.",
                id="beacon.E003",
            )
        )
    if not settings.METRICS_TOKEN and not settings.METRICS_PUBLIC:
        errors.append(
            Error(
                "/metrics would be open to anyone: METRICS_TOKEN is not set.",
                hint="Set METRICS_TOKEN (scrapers send it as a bearer token), or METRICS_PUBLIC=1 if "
                "/metrics is reachable only from a trusted network.",
                id="beacon.E004",
            )
        )
    return errors


def refuse_unsafe_start() -> None:
    """For incidentsite/wsgi.py: raise when a check above fails, so the web server does not start."""
    from django.core.checks import run_checks
    from django.core.exceptions import ImproperlyConfigured

    serious = [error for error in run_checks(tags=["beacon"]) if error.is_serious()]
    if serious:
        raise ImproperlyConfigured("Beacon refuses to start:\n" + "\n".join(f"{e.id}: {e.msg}" for e in serious))
