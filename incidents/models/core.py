import re
import zoneinfo
from datetime import UTC, datetime

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Case, F, Q, When
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.timezone import now

REF_RE = re.compile(r"^\s*(?:INC-?)?(\d{1,18})\s*$", re.IGNORECASE)


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"

    @property
    def definition(self) -> str:
        return SEVERITY_DEFINITIONS[self]

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


# Shown wherever a severity is chosen, so forms, pages and the API speak the same words.
SEVERITY_DEFINITIONS = {
    Severity.CRITICAL: "Major impact on users, needs immediate attention.",
    Severity.HIGH: "Significant impact, a workaround may be available.",
    Severity.MEDIUM: "Moderate impact, can be scheduled.",
    Severity.LOW: "Minimal impact, can wait for a future release.",
}


class Status(models.TextChoices):
    REPORTED = "reported", "Reported"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = [Status.REPORTED, Status.ACKNOWLEDGED, Status.MITIGATED]


class Service(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    runbook = models.TextField(blank=True, help_text="Markdown: how to diagnose and fix this service.")
    is_public = models.BooleanField("shown on the status page", default=True)
    slack_webhook_url = models.URLField(blank=True, help_text="Slack incoming webhook for this service.")
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:100]
        super().save(*args, **kwargs)


# The extremes a datetime can take that still convert to every time zone: 0001-01-01 00:00 UTC
# is year 0 west of UTC, which Python cannot represent (OverflowError while rendering).
DISPLAYABLE_MIN = datetime(1, 1, 2, tzinfo=UTC)
DISPLAYABLE_MAX = datetime(9999, 12, 30, tzinfo=UTC)


class DisplayableDateTimeField(models.DateTimeField):
    """A DateTimeField whose stored values, however odd, can be shown in any time zone.

    Forms bound new values to a sane range (incidents/forms.py); this guards what is already
    stored (an old row, a direct SQL write): a value within a day of the representable range
    is read as the nearest displayable instant, so no page, email or API answer can fail on it.
    Same column as DateTimeField (deconstructed as one: no migration).
    """

    def from_db_value(self, value, expression, connection):
        if value is None or timezone.is_naive(value):
            return value
        return min(max(value, DISPLAYABLE_MIN), DISPLAYABLE_MAX)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DateTimeField", args, kwargs


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def public(self):
        return self.filter(public=True, service__is_public=True)

    def for_list(self):
        # One query per page: everything a row shows comes with it.
        return self.select_related("service", "reporter", "lead")

    def by_ref(self, ref: str):
        match = REF_RE.match(ref or "")
        if not match:
            return self.none()
        return self.filter(pk=int(match.group(1)))


class Incident(models.Model):
    """An incident, from report to close.

    `status`, the lifecycle timestamps and `lead` are written only by the functions in
    `incidents/workflow.py`; each writes exactly one TimelineEntry.
    """

    Severity = Severity
    Status = Status

    class Source(models.TextChoices):
        WEB = "web", "Web form"
        ALERTMANAGER = "alertmanager", "Alertmanager"
        API = "api", "API"

    title = models.CharField(max_length=200)
    description = models.TextField()
    impact = models.TextField("impact on users")
    logs = models.TextField("logs / error messages", blank=True)
    occurred_at = DisplayableDateTimeField("started at")
    severity = models.CharField(max_length=8, choices=Severity)
    # Most severe first without alphabetical surprises; stored, so it can be indexed.
    severity_rank = models.GeneratedField(
        expression=Case(
            *(When(severity=s.value, then=i) for i, s in enumerate(Severity)),
            default=len(Severity),
            output_field=models.SmallIntegerField(),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.REPORTED)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="incidents")
    source = models.CharField(max_length=16, choices=Source, default=Source.WEB)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reported_incidents"
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_incidents"
    )
    public = models.BooleanField("shown on the status page", default=False)

    reported_at = models.DateTimeField(default=now, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    mitigated_at = models.DateTimeField(null=True, blank=True, editable=False)
    source_resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolution_summary = models.TextField(blank=True)
    resolution_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    # Bumped by every change to the reported fields: an edit form posts the version it
    # was opened at, and a stale one is refused instead of overwriting someone else's work.
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-reported_at", "-pk"]
        permissions = [
            ("respond_incident", "Can acknowledge, assign, re-grade, mitigate, resolve and reopen incidents"),
            ("close_incident", "Can close resolved incidents"),
            ("edit_own_report", "Can edit their own report while it is still reported"),
            ("note_own_incident", "Can add notes to their own reports"),
            ("follow_incident", "Can follow incidents and services"),
            ("access_admin", "Can use the Django admin"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="incident_status_valid"),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("reported_at")),
                name="incident_resolved_after_reported",
            ),
        ]
        indexes = [
            # The dashboard: open incidents, most severe first, then oldest (views.dashboard).
            models.Index(
                fields=["severity_rank", "reported_at"],
                condition=Q(status__in=["reported", "acknowledged", "mitigated"]),
                name="incident_open",
            ),
            # The list's default order and its date-range filter (views.incident_list).
            models.Index(fields=["-reported_at"], name="incident_reported"),
            models.Index(fields=["status", "-reported_at"], name="incident_status_reported"),
            models.Index(fields=["service", "-reported_at"], name="incident_service_reported"),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", kwargs={"ref": self.ref})

    @property
    def ref(self) -> str:
        return f"INC-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def severity_definition(self) -> str:
        return Severity(self.severity).definition


class TimelineEntry(models.Model):
    """One line of an incident's history. Append-only: the audit trail and the review's raw material."""

    class Kind(models.TextChoices):
        REPORTED = "reported", "Reported"
        NOTE = "note", "Note"
        EDIT = "edit", "Report edited"
        STATUS_CHANGE = "status_change", "Status change"
        SEVERITY_CHANGE = "severity_change", "Severity change"
        LEAD_CHANGE = "lead_change", "Lead change"
        STATUS_UPDATE = "status_update", "Status update"
        ALERT_FIRED = "alert_fired", "Alert fired"
        ALERT_RESOLVED = "alert_resolved", "Alert resolved"
        VISIBILITY = "visibility", "Visibility change"
        NOTIFICATION = "notification", "Notification"
        ESCALATION = "escalation", "Escalation"
        PAGE = "page", "Page"
        REVIEW = "review", "Review"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    created_at = models.DateTimeField(default=now, editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=24, choices=Kind)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "timeline entries"
        indexes = [
            # An incident's timeline in order (views.detail, views.timeline).
            models.Index(fields=["incident", "created_at"], name="timeline_incident_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on INC-{self.incident_id}"


class Profile(models.Model):
    """What a user sets for themselves: time zone and email preferences."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(max_length=64, blank=True, help_text="Empty: the site's time zone.")
    email_notifications = models.BooleanField(default=True)
    # On call (incidents/oncall/paging.py): pages go to Slack too when the member id is set.
    slack_member_id = models.CharField(
        "Slack member ID",
        max_length=32,
        blank=True,
        validators=[
            RegexValidator(
                r"^[UW][A-Z0-9]{2,30}$", "A Slack member ID looks like U024BE7LH (profile → ⋮ → Copy member ID)."
            )
        ],
    )
    # The secret in the address of the user's on-call iCalendar feed; empty means no feed.
    # Kept in clear: the user copies the address again from their profile, and the feed
    # shows only shift times. Revoking or regenerating it kills the old address.
    calendar_token = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    def __str__(self) -> str:
        return f"Profile of {self.user}"

    @property
    def zoneinfo(self) -> zoneinfo.ZoneInfo | None:
        if not self.time_zone:
            return None
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
