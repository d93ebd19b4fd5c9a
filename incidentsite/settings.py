"""Beacon settings: one file, configured from the environment.

Every variable is listed with a comment in `.env.example`. The defaults make
`make run` work on a new machine (SQLite, console email, DEBUG on only when asked).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import dj_email_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from incidents import roles

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "")
    if value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number such as 0.5, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_secret(name: str, *, required: bool) -> str:
    """Read NAME, or the file named by NAME_FILE (Docker secrets)."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not value and path:
        value = Path(path).read_text().strip()
    if required and not value:
        raise ImproperlyConfigured(
            f"{name} is not set. With DEBUG off Beacon needs a secret key: "
            f"set the {name} environment variable (or {name}_FILE)."
        )
    return value


DEBUG = env_bool("DEBUG", default=False)
# The development key is only ever used with DEBUG on; production refuses to start without one.
SECRET_KEY = env_secret("SECRET_KEY", required=not DEBUG) or "dev-only-insecure-key-beacon-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "incidentsite.apps.BeaconAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "template_partials",
    # Before django_tasks_db: its db_worker refuses queues Beacon does not use.
    "incidentsite.apps.BeaconSiteConfig",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "auditlog",
    "incidents",
    "reviews",
]

MIDDLEWARE = [
    # First, so request counts and latency cover everything below it (incidents/api/metrics.py).
    "incidents.api.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer, static files and errors included.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "incidents.middleware.SessionLifetimeMiddleware",
    # The audit log's actor: the signed-in user making a change (incidents/audit.py).
    "incidents.middleware.AuditActorMiddleware",
    "incidents.middleware.PrivatePageHeadersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "incidents.middleware.UserTimezoneMiddleware",
    "incidents.middleware.ViaWebMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "incidentsite.urls"
WSGI_APPLICATION = "incidentsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "incidents.sso.context",
            ],
        },
    },
]

# Database: SQLite for a first local run, PostgreSQL (psycopg 3) when DATABASE_URL says so.
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60), conn_health_checks=True)
}
# Behind PgBouncer in transaction mode (README, "Behind PgBouncer") each transaction may run on a
# different server connection, so Beacon must keep no state in a session: no server-side cursors
# (a cursor outlives its transaction), no startup "options" (PgBouncer refuses them: set the
# timeouts below on the database role instead), and no prepared statements unless PgBouncer is
# 1.21 or later with max_prepared_statements set (DB_PREPARED_STATEMENTS=1 then).
DB_BEHIND_PGBOUNCER = env_bool("DB_BEHIND_PGBOUNCER")
# PostgreSQL itself, not the pooler: for the sweeper's advisory lock, which is session state held
# for the process's life (incidents/advisory.py). Empty: DATABASE_URL, which is then direct.
DIRECT_DATABASE_URL = env_str("DIRECT_DATABASE_URL")
if DB_BEHIND_PGBOUNCER and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    if not DIRECT_DATABASE_URL:
        # Taken through the pooler, the lock would stay on a pooled server connection after its
        # sweeper died, and no sweeper would ever sweep again.
        raise ImproperlyConfigured(
            "DB_BEHIND_PGBOUNCER=1 needs DIRECT_DATABASE_URL: PostgreSQL itself, not PgBouncer, for the "
            'sweeper\'s advisory lock (README, "Behind PgBouncer").'
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Bounded waits: a stuck lock or an unreachable server must fail fast, not hang a worker.
    # A silent link (a dropped route, a dead host) is noticed by TCP keepalives within about
    # 5 + 3 x 2 s when idle, and by tcp_user_timeout when data goes unacknowledged, so no
    # request waits for it much longer than DB_TCP_TIMEOUT_MS (the old symptom: gunicorn
    # killing a worker after 30 s). idle_in_transaction_session_timeout frees the locks of a
    # transaction whose client went away.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 3),
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": env_int("DB_TCP_TIMEOUT_MS", 10000),
        }
    )
    if not DB_BEHIND_PGBOUNCER:
        DATABASES["default"]["OPTIONS"]["options"] = (
            "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}"
            " -c plan_cache_mode=force_custom_plan".format(
                env_int("DB_STATEMENT_TIMEOUT_MS", 10000),
                env_int("DB_LOCK_TIMEOUT_MS", 3000),
                env_int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60000),
            )
        )
    if env_bool("DB_PREPARED_STATEMENTS", not DB_BEHIND_PGBOUNCER):
        # Parameters sent apart from the SQL, and a statement run twice on a connection prepared:
        # PostgreSQL then parses it once per connection instead of on every request; every page
        # got about a quarter faster on the bench database. Each execution is still planned for
        # its own values (plan_cache_mode=force_custom_plan, in "options" above): after five
        # executions PostgreSQL may otherwise switch a prepared statement to one generic plan for
        # any value, blind to how many rows a value matches. On the bench database that turned a
        # search and a status filter from 2-4 ms queries into 60-80 ms ones, five requests into
        # each connection; planned per value, pages took as long as with generic plans, without
        # the cliff. Behind PgBouncer in transaction mode this needs PgBouncer 1.21+ with
        # max_prepared_statements set; with an older one, set DB_PREPARED_STATEMENTS=0.
        DATABASES["default"]["OPTIONS"].update({"server_side_binding": True, "prepare_threshold": 2})
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def cache_from_url(url: str) -> dict:
    """CACHES["default"] from CACHE_URL: redis://host:6379/0 (or rediss://) or locmem://."""
    if url.startswith(("redis://", "rediss://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": "beacon"}
    if url in {"locmem://", "locmem:"}:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "beacon"}
    raise ImproperlyConfigured(f"CACHE_URL must start with redis://, rediss:// or be locmem://, not {url!r}")


# The cache holds rendered status pages (incidents/statuspage/cache.py). Each page is keyed by a
# generation counter kept in the database, so even a per-process memory cache never serves a page
# older than the last committed change; Redis only lets the processes share the rendering work.
CACHES = {"default": cache_from_url(env_str("CACHE_URL") or env_str("REDIS_URL") or "locmem://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: a locked-out attempt is refused before any password is hashed.
# Single sign-on's backend does nothing while OIDC_RP_CLIENT_ID is unset (incidents/sso.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "incidents.sso.OIDCBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"


def env_group_map(name: str, allowed: set[str] | None = None) -> dict[str, set[str]]:
    """NAME="group=value,other group=value": each group claim's value to the values it gives.
    A group may be listed twice (two roles); `allowed` lists the values there may be."""
    mapping: dict[str, set[str]] = {}
    for item in env_list(name):
        group, sep, value = item.rpartition("=")
        group, value = group.strip(), value.strip()
        if not sep or not group or not value:
            raise ImproperlyConfigured(f"{name}: {item!r} is not group=value (e.g. beacon-managers=Manager)")
        if allowed is not None and value not in allowed:
            raise ImproperlyConfigured(f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}")
        mapping.setdefault(group, set()).add(value)
    return mapping


# Single sign-on with OpenID Connect (mozilla-django-oidc; incidents/sso.py, docs/sso.md). On when
# OIDC_RP_CLIENT_ID is set; the provider's endpoints and issuer are then required. The names are the
# library's own, so its documentation applies.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET = env_secret("OIDC_RP_CLIENT_SECRET", required=False)
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
if OIDC_ENABLED:
    _missing = [
        name
        for name in (
            "OIDC_RP_CLIENT_SECRET",
            "OIDC_OP_ISSUER",
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
            "OIDC_OP_JWKS_ENDPOINT",
        )
        if not globals()[name]
    ]
    if _missing:
        raise ImproperlyConfigured(f"OIDC_RP_CLIENT_ID is set, so single sign-on needs {', '.join(_missing)} too")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
# PKCE on top of state and nonce: a stolen code is useless without the verifier in the session.
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", default=True)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
# The button says "Sign in with <this>".
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
# A first sign-in creates the Beacon account; off: only people a manager linked or created get in.
OIDC_CREATE_USER = env_bool("OIDC_CREATE_USER", default=True)
# The claim with the user's groups, read from the ID token and the userinfo answer.
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# Groups to roles, set at every sign-in: "beacon-managers=Manager,beacon-oncall=Responder". Only the
# roles named here are the provider's to give and take; the others stay with managers.
OIDC_ROLE_GROUPS = env_group_map("OIDC_ROLE_GROUPS", {*roles.ROLES, roles.SECURITY})
# Groups to teams (by slug), and a prefix rule ("team-" makes the group team-payments the team
# payments). Memberships made from a claim go when the claim goes; hand-made ones stay.
OIDC_TEAM_GROUPS = env_group_map("OIDC_TEAM_GROUPS")
OIDC_TEAM_GROUP_PREFIX = env_str("OIDC_TEAM_GROUP_PREFIX")
# Off: only superusers sign in with a password (break-glass); everyone else through single sign-on,
# and password reset is gone.
LOCAL_PASSWORDS = env_bool("LOCAL_PASSWORDS", default=True)
if not LOCAL_PASSWORDS and not OIDC_ENABLED:
    raise ImproperlyConfigured("LOCAL_PASSWORDS=0 needs single sign-on (OIDC_RP_CLIENT_ID and the rest) switched on")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Email: EMAIL_URL like smtp://user:pass@host:587/?tls=True; the console by default.
_email = dj_email_url.parse(env_str("EMAIL_URL", "console://"))
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
# Django's default is no timeout at all: one hung SMTP server would stop the whole queue.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Beacon <beacon@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

SLACK_WEBHOOK_URL = env_str("SLACK_WEBHOOK_URL")
# Slack app mode (docs/slack.md): a bot token posts incident messages with buttons and updates
# them in place; the signing secret verifies button presses and the /incident command.
SLACK_BOT_TOKEN = env_secret("SLACK_BOT_TOKEN", required=False)
SLACK_SIGNING_SECRET = env_secret("SLACK_SIGNING_SECRET", required=False)
# The channel (its id, e.g. C0123ABCD) the app posts incident messages to.
SLACK_CHANNEL = env_str("SLACK_CHANNEL")
# A channel of its own for every Critical/High incident (created, lead invited, timeline changes
# posted, archived on close). Needs the app's channels:manage scope.
SLACK_INCIDENT_CHANNELS = env_bool("SLACK_INCIDENT_CHANNELS", default=False)
# The Web API's base; only tests point it elsewhere (a local stand-in).
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api/")
# Outgoing webhooks (docs/webhooks-out.md) post only to public addresses: a URL whose host is or
# resolves to a loopback, private, link-local or reserved address is refused (a manager could
# otherwise make Beacon call services inside its own network). 1 allows them: tests, or a receiver
# on the same network on purpose.
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
# Action links in emails (Acknowledge, Take the lead) work once, for this many minutes.
EMAIL_ACTION_LINK_MINUTES = env_int("EMAIL_ACTION_LINK_MINUTES", 60)

# Email in (incidents/mailin/, docs/email-in.md; `manage.py run_mail_intake`). The addresses the
# receiver accepts mail for (any other recipient is refused at RCPT); the first is also the
# Reply-To of team members' notification emails, so their replies become notes. Empty: off.
MAIL_INTAKE_ADDRESSES = [a.lower() for a in env_list("MAIL_INTAKE_ADDRESSES")]
# Senders at these domains may open incidents without a Beacon account (a known user's address
# always may, if their role reports incidents). Exact domains, no wildcards: "example.com".
MAIL_INTAKE_ALLOWED_DOMAINS = [d.lower().lstrip("@") for d in env_list("MAIL_INTAKE_ALLOWED_DOMAINS")]
# Larger messages are refused during the SMTP dialogue (552); the mail server bounces them.
MAIL_INTAKE_MAX_BYTES = env_int("MAIL_INTAKE_MAX_BYTES", 10 * 1024 * 1024)
# The service (slug) and severity of incidents opened by email; the service is created if missing.
MAIL_INTAKE_SERVICE = env_str("MAIL_INTAKE_SERVICE", "email")
MAIL_INTAKE_SEVERITY = env_str("MAIL_INTAKE_SEVERITY", "medium")

# Background work. The default keeps tasks in PostgreSQL's own table (django-tasks-db, `manage.py
# db_worker`): nothing more to run. TASKS_BACKEND=rq puts them on Redis instead (django-tasks-rq,
# `manage.py rqworker --with-scheduler`), for when many workers polling one table is the bottleneck
# (README, "Scaling"). Either way the outbox's guarantees are the database's, not the queue's: a
# task only carries a row's key, the row is claimed with a lease, and the sweeper re-enqueues
# whatever a lost task or a killed worker left behind (incidents/notifications/delivery.py).
TASK_BACKENDS = {"db": "django_tasks_db.DatabaseBackend", "rq": "incidents.rqworker.Backend"}
TASK_QUEUES = ["default", "email", "slack", "webhooks", "escalations", "apprise"]
TASKS = {
    "default": {
        "BACKEND": TASK_BACKENDS.get(env_str("TASKS_BACKEND", "db"), env_str("TASKS_BACKEND")),
        "QUEUES": TASK_QUEUES,
    }
}
if TASKS["default"]["BACKEND"] == TASK_BACKENDS["rq"]:
    # Every queue Beacon uses exists in RQ too (django-tasks-rq's check refuses one that does not),
    # all on one Redis: RQ_URL, else REDIS_URL (which the cache may share: RQ's keys start "rq:",
    # the cache's "beacon:"). A job may run as long as an SMTP attempt, and then some.
    RQ_URL = env_str("RQ_URL") or env_str("REDIS_URL")
    if not RQ_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"TASKS_BACKEND=rq needs RQ_URL or REDIS_URL (redis://host:6379/0), not {RQ_URL!r}")
    INSTALLED_APPS.append("django_rq")
    RQ_QUEUES = {name: {"URL": RQ_URL, "DEFAULT_TIMEOUT": 300} for name in TASK_QUEUES}
    # Workers run django-tasks-rq's job class (it calls the task the job names, and only a task),
    # each job in the worker's own process (incidents/rqworker.py says why).
    RQ = {"JOB_CLASS": "django_tasks_rq.backend.Job", "WORKER_CLASS": "incidents.rqworker.Worker"}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Beacon's own knobs.
INCIDENTS_PER_PAGE = 25
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 15)
# Remind an open incident's lead when no public update was posted for this many minutes
# (per severity; a severity not listed gets no reminders).
UPDATE_REMINDER_MINUTES = {
    "critical": env_int("UPDATE_REMINDER_CRITICAL_MINUTES", 30),
    "high": env_int("UPDATE_REMINDER_HIGH_MINUTES", 30),
}

# Reviews: severities whose incidents cannot be closed until their review is published
# ("none": any incident closes without one; empty or unset: critical and high).
REVIEW_REQUIRED_SEVERITIES = [
    s for s in env_list("REVIEW_REQUIRED_SEVERITIES") or ["critical", "high"] if s.lower() != "none"
]
# Reviews: whether one of a review's authors may publish it. Off: another manager must (a
# second pair of eyes). One-person teams turn it on; the timeline then says the author published.
REVIEW_SELF_PUBLISH = env_bool("REVIEW_SELF_PUBLISH", default=False)
# Default due date of a new action item, in weeks, by priority.
ACTION_ITEM_DUE_WEEKS = {
    "high": env_int("ACTION_ITEM_DUE_WEEKS_HIGH", 4),
    "default": env_int("ACTION_ITEM_DUE_WEEKS", 8),
}
REVIEWS_PER_PAGE = 25
# Reports (/reports/, docs/reports.md): minutes within which an incident of each severity should be
# acknowledged, counted from its report; the share acknowledged in time is shown per period.
REPORT_ACK_TARGET_MINUTES = {
    "critical": env_int("ACK_TARGET_CRITICAL_MINUTES", 5),
    "high": env_int("ACK_TARGET_HIGH_MINUTES", 15),
    "medium": env_int("ACK_TARGET_MEDIUM_MINUTES", 60),
    "low": env_int("ACK_TARGET_LOW_MINUTES", 240),
}
# The on-call load report (/oncall/load/, docs/oncall.md): a page is "at night" when it reaches
# someone between these local hours of their own time zone (their profile's, else TIME_ZONE):
# from ONCALL_NIGHT_START:00 up to, not including, ONCALL_NIGHT_END:00 (22 and 7: 22:00–06:59).
ONCALL_NIGHT_START = env_int("ONCALL_NIGHT_START", 22)
ONCALL_NIGHT_END = env_int("ONCALL_NIGHT_END", 7)
if not (0 <= ONCALL_NIGHT_START <= 23 and 0 <= ONCALL_NIGHT_END <= 23) or ONCALL_NIGHT_START == ONCALL_NIGHT_END:
    raise ImproperlyConfigured(
        "ONCALL_NIGHT_START and ONCALL_NIGHT_END must be different hours from 0 to 23 "
        f"(now {ONCALL_NIGHT_START} and {ONCALL_NIGHT_END})"
    )
# Reports: a review (of a severity in REVIEW_REQUIRED_SEVERITIES) is due this many days after its
# incident is resolved; published by then is "on time".
REVIEW_DUE_DAYS = env_int("REVIEW_DUE_DAYS", 7)
# Error budgets: the share of an incident's impact window that counts against its service's
# availability objective, by severity (a Low incident burns nothing by default).
ERROR_BUDGET_FACTORS = {
    "critical": env_float("ERROR_BUDGET_FACTOR_CRITICAL", 1.0),
    "high": env_float("ERROR_BUDGET_FACTOR_HIGH", 0.5),
    "medium": env_float("ERROR_BUDGET_FACTOR_MEDIUM", 0.1),
    "low": env_float("ERROR_BUDGET_FACTOR_LOW", 0.0),
}
# An incident that alone burns at least this share of its service's monthly budget says so on its
# page and on its review.
ERROR_BUDGET_NOTE_SHARE = env_float("ERROR_BUDGET_NOTE_SHARE", 0.25)
# On call (incidents/oncall/paging.py): minutes an incident of each severity may stay unacknowledged
# before the next person is paged; severities not listed never escalate. Then at most
# ONCALL_ESCALATION_STEPS escalation steps, one such interval apart.
ONCALL_ESCALATION_MINUTES = {
    "critical": env_int("ESCALATE_CRITICAL_MINUTES", 5),
    "high": env_int("ESCALATE_HIGH_MINUTES", 15),
}
ONCALL_ESCALATION_STEPS = env_int("ESCALATION_STEPS", 4)

# Alertmanager intake (incidents/alerts/intake.py). A group that fires again within this many
# minutes of its incident's resolution reopens that incident instead of opening a new one.
ALERTMANAGER_REOPEN_MINUTES = env_int("ALERTMANAGER_REOPEN_MINUTES", 60)
# The `severity` label's value (lower-cased) → Beacon severity; anything else → the default.
ALERTMANAGER_SEVERITY_MAP = {
    "critical": "critical",
    "high": "high",
    "error": "high",
    "page": "high",
    "warning": "medium",
    "medium": "medium",
    "info": "low",
    "low": "low",
}
ALERTMANAGER_DEFAULT_SEVERITY = "medium"
# Heartbeat (dead man's switch): the always-firing alert's name and how long silence may last,
# for integrations whose heartbeat a manager has not configured in the admin.
ALERTMANAGER_HEARTBEAT_ALERTNAME = env_str("ALERTMANAGER_HEARTBEAT_ALERTNAME") or "Watchdog"
ALERTMANAGER_HEARTBEAT_WINDOW_MINUTES = env_int("ALERTMANAGER_HEARTBEAT_WINDOW_MINUTES", 10)
# GET /metrics: open like /healthz when empty; otherwise it needs `Authorization: Bearer <token>`.
METRICS_TOKEN = env_secret("METRICS_TOKEN", required=False)
# With DEBUG off an open /metrics must be meant: without METRICS_TOKEN start-up refuses unless this is set.
METRICS_PUBLIC = env_bool("METRICS_PUBLIC", default=False)

# Sessions end after SESSION_IDLE_MINUTES without a request or SESSION_MAX_DAYS after sign-in
# (incidents/middleware.py), whichever comes first; the cookie itself lasts no longer.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 12 * 60)
SESSION_MAX_DAYS = env_int("SESSION_MAX_DAYS", 7)
SESSION_COOKIE_AGE = SESSION_MAX_DAYS * 86400

# Reverse proxies in front of Beacon that append the client's address to X-Forwarded-For
# (docker-compose.yml's Caddy: 1). 0 means REMOTE_ADDR is the client (incidents/security.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Sign-in throttling (django-axes): a username and address pair is locked out after
# LOGIN_FAILURE_LIMIT wrong passwords in a row for LOGIN_COOLOFF_MINUTES. Both together, so
# one proxy or office address cannot lock everybody out and one username cannot be locked by
# strangers. A locked-out attempt answers 429 without checking (hashing) the password.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "incidents.security.client_ip"
AXES_LOCKOUT_CALLABLE = "incidents.security.lockout_response"
# Successful sign-ins are in the session table already; keep only the failures.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# Password reset (incidents/accounts.py): at most this many mails per address and requests
# per client address in the window.
PASSWORD_RESET_PER_ADDRESS = env_int("PASSWORD_RESET_PER_ADDRESS", 3)
PASSWORD_RESET_PER_IP = env_int("PASSWORD_RESET_PER_IP", 10)
PASSWORD_RESET_WINDOW_MINUTES = env_int("PASSWORD_RESET_WINDOW_MINUTES", 60)

# Email updates from the status page (incidents/notifications/subscribers.py): confirmation
# mails per address and requests per client address in the window; how long a link works.
STATUS_SUBSCRIBE_PER_ADDRESS = env_int("STATUS_SUBSCRIBE_PER_ADDRESS", 3)
STATUS_SUBSCRIBE_PER_IP = env_int("STATUS_SUBSCRIBE_PER_IP", 10)
STATUS_SUBSCRIBE_WINDOW_MINUTES = env_int("STATUS_SUBSCRIBE_WINDOW_MINUTES", 60)
STATUS_SUBSCRIBE_LINK_HOURS = env_int("STATUS_SUBSCRIBE_LINK_HOURS", 48)

# "Report a problem" on the status page (incidents/user_report_views.py): reports per client
# address and confirmation mails per address in the window; a form sent sooner than this many
# seconds after it was shown is taken for a bot.
USER_REPORT_PER_IP = env_int("USER_REPORT_PER_IP", 5)
USER_REPORT_PER_ADDRESS = env_int("USER_REPORT_PER_ADDRESS", 3)
USER_REPORT_WINDOW_MINUTES = env_int("USER_REPORT_WINDOW_MINUTES", 60)
USER_REPORT_MIN_SECONDS = env_int("USER_REPORT_MIN_SECONDS", 3)

# A task row RUNNING this long belongs to a worker that was killed: the sweeper marks it failed
# (incidents/housekeeping.py), and pruning removes it later like any finished row.
TASK_ABANDONED_MINUTES = env_int("TASK_ABANDONED_MINUTES", 30)

# The audit log (django-auditlog, incidents/audit.py): no client addresses stored with entries
# (the actor is enough; addresses are personal data).
AUDITLOG_DISABLE_REMOTE_ADDR = True
AUDITLOG_MASK_CALLABLE = "incidents.audit.mask"

# How long idempotency keys (form tokens, the API's Idempotency-Key) are kept (incidents/idempotency.py).
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24)

# Security: everything `check --deploy` asks for, on whenever DEBUG is off.
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts only from Beacon itself or carrying this
# request's nonce, never inline or eval (htmx is configured for that in base.html's
# htmx-config meta tag), no plugins, no <base>, never framed. tests/browser/test_csp.py loads
# every main page and fails on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=SECURE_SSL_REDIRECT)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 86400 if SECURE_SSL_REDIRECT else 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = False
    # /healthz is probed over plain HTTP by load balancers and compose health checks. Alertmanager
    # does not follow a redirect of its POST (the token has crossed the wire by then anyway).
    SECURE_REDIRECT_EXEMPT = [
        r"^healthz$",
        r"^metrics$",
        r"^integrations/alertmanager/$",
        r"^integrations/webhook/$",
        r"^integrations/slack/interactions/$",
        r"^integrations/slack/commands/$",
    ]
    if env_bool("BEHIND_PROXY", default=False):
        # Only when the proxy overwrites this header: a client could otherwise claim HTTPS itself.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SILENCED_SYSTEM_CHECKS = [
    # Preloading is a decision for the domain's owner (it cannot be undone quickly), not for Beacon.
    "security.W021",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}, "null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Apprise logs the URLs of users' paging channels, which carry their secrets (an ntfy topic,
        # a bot token): muted here; the Apprise transport reads each call's lines from its result.
        "apprise": {"handlers": ["null"], "propagate": False},
        # requests' connection pool logs each request line (a paging channel's path) at DEBUG.
        "urllib3": {"level": "WARNING"},
    },
}
