"""Secrets that let other programs in: integration tokens and personal API tokens.

Only a SHA-256 hash of each token is stored; the token itself is shown once, when made.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Any, cast

from django.conf import settings
from django.db import connection, models
from django.utils.timezone import now

from incidents.models import plain
from incidents.models.reference import ReferenceGeneration


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


# Writing last_used_at at every request would turn each read into a write (and, in the
# Alertmanager intake, lock the integration's row); once a minute is enough to tell a
# manager whether a token is still in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def mark_used(row: "Integration | ApiToken") -> None:
    """Note that `row`'s token was just accepted (one UPDATE at most a minute); call it outside transactions."""
    at = now()
    if row.last_used_at is None or row.last_used_at < at - LAST_USED_RESOLUTION:
        type(row).objects.filter(pk=row.pk).update(last_used_at=at)
        row.last_used_at = at


class TokenQuerySet(models.QuerySet):
    def matching(self, token: str) -> Any:
        """The active row whose hash matches `token` (compared in constant time), or None."""
        if not token or len(token) > 200:
            return None
        digest = hash_token(token)
        row: Any = self.filter(token_hash=digest, is_active=True).first()
        if row is not None and hmac.compare_digest(row.token_hash, digest):
            return row
        return None


def integration_with_heartbeat(token: str) -> "Integration | None":
    """`Integration.objects.select_related("heartbeat").matching(token)`, as one plain statement
    built once (incidents/models/plain.py): the Alertmanager and Grafana webhooks ask it on every
    delivery, and the ORM took longer to build it than the database to answer. The statement also
    reads the reference data's count (`reference_generation`, incidents/reference.py)."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)

    def read():
        with connection.cursor() as cursor:
            cursor.execute(_with_heartbeat_sql(), [digest, True])
            return cursor.fetchone()

    # A webhook's first query: it stands in for the connection's health check (one round trip less).
    row = plain.first_query(read)
    if row is None:
        return None
    found, heartbeat = plain.split(row[:-1], _with_heartbeat_layout())
    integration = cast("Integration | None", found)
    if integration is None or not hmac.compare_digest(integration.token_hash, digest):
        return None
    # None (no heartbeat configured) is cached too: reading integration.heartbeat then raises
    # Heartbeat.DoesNotExist without a query, as after select_related.
    Integration.heartbeat.related.set_cached_value(integration, heartbeat)
    # The reference data's count, read with the token: the delivery runs in reference.at() with it.
    integration.reference_generation = row[-1]
    return integration


@lru_cache(maxsize=1)
def _with_heartbeat_layout() -> plain.Layout:
    heartbeat = Integration.heartbeat.related.related_model
    return [(Integration, plain.fields_of(Integration)), (heartbeat, plain.fields_of(heartbeat))]


@lru_cache(maxsize=1)
def _with_heartbeat_sql() -> str:
    (integration, integration_fields), (heartbeat, heartbeat_fields) = _with_heartbeat_layout()
    quote = connection.ops.quote_name
    return (
        f"SELECT {plain.columns('i', integration_fields)}, {plain.columns('h', heartbeat_fields)}, "
        f"(SELECT generation FROM {quote(ReferenceGeneration._meta.db_table)} WHERE id = 1) "
        f"FROM {quote(integration._meta.db_table)} i "
        f"LEFT JOIN {quote(heartbeat._meta.db_table)} h ON h.integration_id = i.id "
        "WHERE i.token_hash = %s AND i.is_active = %s"
    )


class Integration(models.Model):
    """A named inbound integration (Alertmanager, Grafana, a generic webhook, or any API client) with a bearer token."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
        GRAFANA = "grafana", "Grafana Alerting"
        WEBHOOK = "webhook", "Generic webhook"
        API = "api", "API client"

    # Set by integration_with_heartbeat: the reference data's count when the token was read.
    reference_generation: int | None = None

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.ALERTMANAGER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=12, editable=False, help_text="The token's first characters.")
    is_active = models.BooleanField("enabled", default=True)
    default_incident_type = models.ForeignKey(
        "incidents.IncidentType",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Alertmanager: the type of incidents whose alerts carry no incident_type label (empty: Downtime).",
    )
    created_at = models.DateTimeField(default=now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TokenQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_new_token(self) -> str:
        """Give the integration a new token (rotation) and return it; the caller shows it once."""
        token = new_token("bcn")
        self.token_hash = hash_token(token)
        self.token_hint = token[:10]
        return token


class ApiToken(models.Model):
    """A user's personal API token: acts with that user's role."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. “deploy script”.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=12, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    def set_new_token(self) -> str:
        token = new_token("bcu")
        self.token_hash = hash_token(token)
        self.token_hint = token[:10]
        return token
