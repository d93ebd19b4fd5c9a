"""Alerts from Prometheus Alertmanager and generic webhooks, the groups that turn them into
incidents, the heartbeat, and a webhook integration's field mapping.

Alerts and groups are written only by `incidents/alerts/intake.py` and `incidents/alerts/heartbeat.py`
(a webhook's body reaches them as an Alertmanager-shaped payload, `incidents/alerts/webhook.py`).
"""

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from incidents.models.core import Incident, Service, Severity
from incidents.models.tokens import Integration

# The sources whose incidents were opened by alerts, with an alert group (the panel, reviews' hints).
ALERT_SOURCES = (Incident.Source.ALERTMANAGER, Incident.Source.WEBHOOK)


class AlertGroup(models.Model):
    """One Alertmanager group (`groupKey`) and the one incident it opened.

    A group key keeps coming back for months; each incident gets its own row. The row
    Beacon adds new alerts to is the *current* one: a partial unique constraint allows
    one current row per (integration, group key), so two deliveries of a new group at
    the same moment cannot open two incidents. When the current incident is closed, or
    was resolved longer ago than the re-open window, the intake retires the row
    (`is_current=False`) and opens a new incident with a new row.
    """

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="alert_groups")
    group_key = models.TextField()
    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="alert_group")
    is_current = models.BooleanField(default=True)
    group_labels = models.JSONField(default=dict, blank=True)
    receiver = models.CharField(max_length=200, blank=True)
    external_url = models.TextField(blank=True)
    # Alertmanager's `truncatedAlerts`: alerts it left out of the payload (max_alerts); the largest seen.
    truncated_alerts = models.PositiveIntegerField(default=0)
    # The last payload that changed anything, as received (a repeat changes nothing, this included).
    last_payload = models.JSONField(default=dict, blank=True)
    last_payload_at = models.DateTimeField(default=now)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "group_key"],
                condition=Q(is_current=True),
                name="alertgroup_one_current_per_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_key} → INC-{self.incident_id}"


class Alert(models.Model):
    """One Alertmanager alert, identified by (fingerprint, startsAt) as Alertmanager does."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=128)
    starts_at = models.DateTimeField()
    # None while firing: Alertmanager sends 0001-01-01 then.
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    generator_url = models.TextField(blank=True)
    received_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["starts_at", "pk"]
        constraints = [
            # The idempotency key: a repeat of an alert already stored is the same row.
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="alert_fingerprint_starts_at"),
            models.CheckConstraint(condition=Q(status__in=["firing", "resolved"]), name="alert_status_valid"),
        ]
        indexes = [
            # "Is any alert of this group still firing?" and the panel's lists (alerts/intake.py, alerts/panel.py).
            models.Index(fields=["group", "status", "starts_at"], name="alert_group_status"),
        ]

    def __str__(self) -> str:
        return f"{self.labels.get('alertname', 'alert')} {self.fingerprint}@{self.starts_at:%Y-%m-%d %H:%M:%S}"

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def runbook_url(self) -> str:
        """The `runbook_url` annotation, only when it is an http(s) link (it is shown as one)."""
        return _link(self.annotations.get("runbook_url", ""))

    @property
    def source_url(self) -> str:
        """The generator URL (Prometheus' graph of the rule), only when it is an http(s) link."""
        return _link(self.generator_url)


def _link(url: str) -> str:
    # Anything else (javascript:, data:) from a payload must never become a link on the page.
    return url if url.startswith(("https://", "http://")) else ""


class Heartbeat(models.Model):
    """A dead man's switch for one Alertmanager integration.

    Alertmanager re-sends an always-firing alert (`Watchdog`) every repeat interval. Each
    one sets `last_seen_at` and arms a delayed check `window` later; a check that finds
    nothing newer opens a Critical "Alerting pipeline is silent" incident.
    """

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="heartbeat")
    alertname = models.CharField(max_length=100, default="Watchdog", help_text="The always-firing alert's name.")
    window = models.DurationField(
        default=timedelta(minutes=10),
        help_text="Open an incident when no heartbeat arrived for this long (more than Alertmanager's "
        "repeat interval for the heartbeat route).",
    )
    is_active = models.BooleanField("watched", default=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The open "pipeline is silent" incident, until the next heartbeat says the pipeline is back.
    silent_incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(window__gt=timedelta(0)), name="heartbeat_window_positive"),
        ]

    def __str__(self) -> str:
        return f"Heartbeat {self.alertname} of {self.integration}"


class WebhookMapping(models.Model):
    """How a generic webhook integration reads any JSON body: one selector per incident field.

    Selectors are the small JSONPath subset of `incidents/alerts/selectors.py` (`$.a.b`,
    `$.a[0]`, `$["key with space"]`); the admin checks them (`incidents/alerts/admin.py`) and
    `incidents/alerts/webhook.py` applies them. docs/webhooks-in.md explains each field.
    """

    integration = models.OneToOneField(
        Integration,
        on_delete=models.CASCADE,
        related_name="webhook_mapping",
        limit_choices_to={"kind": Integration.Kind.WEBHOOK},
    )
    title = models.CharField(max_length=500, help_text="Selector of the incident's title, e.g. $.monitor.name.")
    description = models.CharField(
        max_length=500, blank=True, help_text="Selector of the description (empty: the title is the description)."
    )
    severity = models.CharField(
        max_length=500, blank=True, help_text="Selector of the severity value (empty: always the default severity)."
    )
    severity_map = models.TextField(
        blank=True,
        help_text="One value per line: “P1 = critical”. Values are compared ignoring case and surrounding "
        "spaces. Without a map the value must name a severity (critical, high, medium, low).",
    )
    default_severity = models.CharField(
        max_length=16,
        choices=Severity,
        blank=True,
        help_text="For a value the map does not list, or when the severity selector finds nothing. "
        "Needed with a map, and when there is no severity selector.",
    )
    service = models.CharField(
        max_length=500, blank=True, help_text="Selector of the service's name (created when Beacon does not know it)."
    )
    default_service = models.ForeignKey(
        Service,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="When there is no service selector, or it finds nothing (empty: “Unlabelled alerts”).",
    )
    dedup_key = models.CharField(
        "deduplication key",
        max_length=500,
        blank=True,
        help_text="Selector of what makes deliveries the same problem, e.g. $.monitor.id (empty: the title). "
        "Deliveries with one key share one incident while it is open.",
    )
    resolve_when = models.CharField(
        max_length=500,
        blank=True,
        help_text="Selector of the value that says the problem is over, e.g. $.status (empty: never resolves).",
    )
    resolve_values = models.CharField(
        max_length=500,
        blank=True,
        help_text="The values that mean resolved, separated by commas, e.g. “resolved, ok” or “1”.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "webhook mapping"

    def __str__(self) -> str:
        return f"Mapping of {self.integration}"
