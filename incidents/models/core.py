import re
import zoneinfo
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Case, F, Q, When
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.utils.timezone import now

from incidents.markup import render_markdown

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


class SlugFromName:
    """A model whose slug, when left empty, is made from its name (services, types, teams)."""

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:100]
        super().save(*args, **kwargs)


class Service(SlugFromName, models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    runbook = models.TextField(blank=True, help_text="Markdown: how to diagnose and fix this service.")
    is_public = models.BooleanField("shown on the status page", default=True)
    slack_webhook_url = models.URLField(blank=True, help_text="Slack incoming webhook for this service.")
    # The error budget (incidents/reports/queries.py, docs/reports.md): the share of each calendar
    # month the service should be available; incidents' impact windows burn the rest.
    availability_objective = models.DecimalField(
        "availability objective (%)",
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("99.999"))],
        help_text="Per calendar month, e.g. 99.9. Empty: no error budget.",
    )
    # The team that owns the service (incidents/models/teams.py): its defaults, not who may read.
    team = models.ForeignKey(
        "incidents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="services"
    )
    # Who is paged, and when, while its incidents go unacknowledged (incidents/models/escalation.py).
    # Empty: the default policy.
    escalation_policy = models.ForeignKey(
        "incidents.EscalationPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="services",
        help_text="Empty: the default escalation policy.",
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IncidentType(SlugFromName, models.Model):
    """A kind of incident and its policy (Downtime, Performance degradation, Security incident,
    and whatever managers add in the admin). The three shipped ones come from migration
    0010_restrict_types; the API and the Alertmanager `incident_type` label name a type by slug."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=100, unique=True, help_text="How the API and the Alertmanager label incident_type name it."
    )
    description = models.TextField(blank=True, help_text="Shown when a reporter chooses the type.")
    default_severity = models.CharField(
        max_length=8, choices=Severity, blank=True, help_text="Preselected on the report form; the API's default."
    )
    restricted_by_default = models.BooleanField(
        "restricted (need-to-know) by default",
        default=False,
        help_text="New incidents of this type are seen only by their participants, the Security group and managers.",
    )
    position = models.PositiveSmallIntegerField(default=100, help_text="Order on the report form (smallest first).")

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_severity__in=["", *Severity.values]), name="incidenttype_severity_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# The type of incidents that name none (old API clients, the Alertmanager intake without a label).
DEFAULT_TYPE_SLUG = "downtime"

# The types Beacon ships. Migration 0010_restrict_types creates them (with its own frozen copy);
# `ensure_shipped_types` puts them back into a database emptied by a flush (tests, a restore).
SHIPPED_TYPES = [
    {
        "slug": "downtime",
        "name": "Downtime",
        "position": 10,
        "default_severity": "",
        "restricted_by_default": False,
        "description": "A service, or part of it, does not work for users.",
    },
    {
        "slug": "performance",
        "name": "Performance degradation",
        "position": 20,
        "default_severity": "medium",
        "restricted_by_default": False,
        "description": "A service works, but slowly or unreliably.",
    },
    {
        "slug": "security",
        "name": "Security incident",
        "position": 30,
        "default_severity": "high",
        "restricted_by_default": True,
        "description": "A breach or suspected breach: data exposed, accounts or systems compromised. "
        "Restricted: only its participants, the Security group and managers see it.",
    },
]


def ensure_shipped_types(sender=None, **kwargs) -> None:
    """After every migrate: when there is no incident type at all, create the shipped ones.
    Only then: a type a manager removed or renamed stays as they left it."""
    if not IncidentType.objects.exists():
        for values in SHIPPED_TYPES:
            IncidentType.objects.get_or_create(slug=values["slug"], defaults=values)


def default_type_pk() -> int | None:
    """Downtime's id: the type of an incident made without one (bulk loads, old code paths)."""
    return IncidentType.objects.filter(slug=DEFAULT_TYPE_SLUG).values_list("pk", flat=True).first()


def access_condition(user, prefix: str = "") -> Q:
    """Which incidents `user` may see, as a condition on Incident (or, with `prefix`, on a model
    that points at one: "incident__", "review__incident__"). The one rule of need-to-know
    (incidents/access.py): a restricted incident is seen by its reporter, its lead, the people
    added to it by name, and holders of `view_restricted_incident` (the Security group and
    managers); anyone else, and Beacon's anonymous surfaces, see only unrestricted incidents."""
    from incidents import roles

    if user is not None and user.is_authenticated and user.is_active and user.has_perm(roles.VIEW_RESTRICTED):
        return Q()
    unrestricted = Q(**{f"{prefix}restricted": False})
    if user is None or not user.is_authenticated:
        return unrestricted
    participating = Incident.participants.through.objects.filter(user_id=user.pk).values("incident_id")
    return (
        unrestricted
        | Q(**{f"{prefix}reporter_id": user.pk})
        | Q(**{f"{prefix}lead_id": user.pk})
        | Q(**{f"{prefix}pk__in": participating})
    )


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


# What a row of the dashboard or the incident list shows (IncidentQuerySet.for_rows).
ROW_FIELDS = (
    "title",
    "severity",
    "severity_rank",
    "status",
    "restricted",
    "public",
    "source",
    "reported_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "version",
    "service__name",
    "service__slug",
    "type__name",
    "type__slug",
    "lead__username",
    "lead__first_name",
    "lead__last_name",
)


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def public(self):
        # A restricted incident is never public, whatever its flag says.
        return self.filter(public=True, service__is_public=True, restricted=False)

    def visible_to(self, user):
        """The incidents `user` may see (None or anonymous: unrestricted ones only)."""
        return self.filter(access_condition(user))

    def unrestricted(self):
        """For what everybody may read: the status page, /metrics, Slack channels."""
        return self.filter(restricted=False)

    def for_list(self):
        # One query per page: everything a row shows comes with it.
        return self.select_related("service", "reporter", "lead", "type")

    def for_rows(self):
        """for_list() for the dashboard and the incident list: only the columns a row shows.

        Without the long texts (description, logs, impact, summary) and the reporter, a page of
        rows loads and builds about half as much; a template that reads anything else costs a
        query per row, which the pages' query-count tests catch.
        """
        return self.select_related("service", "lead", "type").only(*ROW_FIELDS)

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
        SLACK = "slack", "Slack"
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

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
    type = models.ForeignKey(IncidentType, on_delete=models.PROTECT, related_name="incidents", default=default_type_pk)
    # Need-to-know: see access_condition. Changed only by workflow.restrict / lift_restriction.
    restricted = models.BooleanField(
        "restricted (need-to-know)",
        default=False,
        editable=False,
        help_text="Changed on the incident page, with a reason.",
    )
    # The values of the type's custom fields, {name: value} (incidents/typefields.py validates
    # them; docs/incident-types.md). Incident text: seen only by those who see the incident.
    custom_fields = models.JSONField(default=dict, blank=True, editable=False)
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="participating_incidents",
        help_text="People added by name: they see the incident even when it is restricted.",
    )
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
    # The user-impact window when a responder corrected it (workflow.adjust_impact, with a reason);
    # otherwise it runs from occurred_at to mitigated_at (incidents/reports/queries.py).
    impact_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    impact_ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolution_summary = models.TextField(blank=True)
    resolution_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    # One outage, one incident: a duplicate is closed into its primary (workflow.mark_duplicate).
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates", editable=False
    )

    # Bumped by every change to the reported fields: an edit form posts the version it
    # was opened at, and a stale one is refused instead of overwriting someone else's work.
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # When data retention removed its personal data (incidents/retention.py): set once, so a
    # resumed run skips what an earlier one finished.
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)

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
            ("view_restricted_incident", "Can see every restricted incident and lift restrictions"),
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
            # Recently resolved ones: the dashboard, the status page's last 14 days, and similar past
            # incidents of a service (reviews). Partial: the open few are not in it.
            models.Index(
                fields=["-resolved_at", "-id"],
                condition=Q(status__in=["resolved", "closed"]),
                name="incident_resolved",
            ),
            models.Index(
                fields=["service", "-resolved_at", "-id"],
                condition=Q(status__in=["resolved", "closed"]),
                name="incident_service_resolved",
            ),
            # Repeat offenders on /reports/: an earlier incident of the same service and title
            # within 30 days (incidents/reports/queries.py), one index probe per incident.
            models.Index(fields=["service", "title", "reported_at"], name="incident_service_title"),
            # The list filtered by status and sorted by severity (views.incident_list).
            models.Index(fields=["status", "severity_rank", "-reported_at"], name="incident_status_severity"),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"

    def get_absolute_url(self) -> str:
        return incident_url(self.ref)

    @property
    def urls(self) -> "IncidentUrls":
        """`{{ incident.urls.acknowledge }}`: the incident's pages and actions by URL name."""
        return IncidentUrls(self.ref)

    @property
    def ref(self) -> str:
        return f"INC-{self.pk}"

    @property
    def duplicate_of_ref(self) -> str:
        """The primary's reference, without loading it ("" when this is no duplicate)."""
        return f"INC-{self.duplicate_of_id}" if self.duplicate_of_id else ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def severity_definition(self) -> str:
        return Severity(self.severity).definition


# incident_url: URL name and script prefix -> the reversed URL split around the reference.
_URL_TEMPLATES: dict[tuple, list[str]] = {}
_PLACEHOLDER = "REF-PLACEHOLDER"


def incident_url(ref: str, name: str = "detail") -> str:
    """reverse(f"incidents:{name}", kwargs={"ref": ref}) at the cost of a dictionary lookup.

    A dashboard draws a few hundred of these; reverse() was a quarter of its template time
    (bench/results.md). Each URL is reversed once per name, script prefix and URLconf with a
    placeholder, then the reference is put in its place (references are "INC-<n>", nothing to
    quote). incidents/tests/test_urls.py compares every incident URL with reverse().
    """
    key = (name, get_script_prefix(), get_urlconf())
    parts = _URL_TEMPLATES.get(key)
    if parts is None:
        parts = reverse(f"incidents:{name}", kwargs={"ref": _PLACEHOLDER}).split(_PLACEHOLDER)
        if len(parts) != 2:  # the placeholder was quoted or repeated: never cache a wrong shape
            return reverse(f"incidents:{name}", kwargs={"ref": ref})
        _URL_TEMPLATES[key] = parts
    return f"{parts[0]}{ref}{parts[1]}"


class IncidentUrls:
    """An incident's URLs by name for templates; an unknown name raises NoReverseMatch."""

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def __getitem__(self, name: str) -> str:
        return incident_url(self.ref, name)


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
        ACCESS = "access", "Access change"
        NOTIFICATION = "notification", "Notification"
        ESCALATION = "escalation", "Escalation"
        PAGE = "page", "Page"
        REVIEW = "review", "Review"
        ROLE = "role", "Response role"
        TASK = "task", "Task"
        IMPACT = "impact", "Impact window change"
        DUPLICATE = "duplicate", "Duplicate"
        LINK = "link", "Related incident"
        USER_REPORT = "user_report", "User reports"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    created_at = models.DateTimeField(default=now, editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=24, choices=Kind)
    text = models.TextField(blank=True)
    # `text` as sanitised HTML (incidents/markup.py), rendered once when the entry is written:
    # the incident page shows hundreds of entries and must not render their markdown each time.
    html = models.TextField(blank=True, editable=False)
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

    def save(self, *args, **kwargs):
        self.render()
        super().save(*args, **kwargs)

    def render(self) -> None:
        """Keep the text's HTML (before the row is written: by save(), or by workflow._record,
        which writes entries with a plain INSERT)."""
        if self.text and not self.html:
            self.html = render_markdown(self.text)

    @property
    def text_html(self) -> str:
        """The text as sanitised HTML: as stored, or rendered now for an entry written without it
        (rows from before the column existed, bulk inserts)."""
        if not self.text:
            return ""
        return mark_safe(self.html or render_markdown(self.text))  # noqa: S308 - sanitised (incidents/markup.py)


class Profile(models.Model):
    """What a user sets for themselves: time zone, email preferences, colour scheme."""

    class Theme(models.TextChoices):
        AUTO = "auto", "Auto"
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

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
    # The colour scheme of every page, kept with the user so the phone and the laptop agree.
    # "auto" follows the device's prefers-color-scheme (static/js/theme.js).
    theme = models.CharField("Colour scheme", max_length=8, choices=Theme.choices, default=Theme.AUTO)

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


class IncidentLink(models.Model):
    """Two incidents that belong together, shown on both pages and in their reviews: one caused
    the other, they share a root cause, or they are related. Read from either side
    (`label_from`): "Caused by INC-7" on one page is "Caused INC-9" on the other."""

    class Kind(models.TextChoices):
        CAUSED_BY = "caused_by", "Caused by"
        SAME_CAUSE = "same_cause", "Same root cause as"
        RELATED = "related", "Related to"

    # How each kind reads from the other incident's side.
    REVERSE = {Kind.CAUSED_BY: "Caused", Kind.SAME_CAUSE: "Same root cause as", Kind.RELATED: "Related to"}

    from_incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="links_out")
    to_incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(max_length=16, choices=Kind)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["from_incident", "to_incident"], name="incidentlink_once"),
            models.CheckConstraint(
                condition=~Q(from_incident=models.F("to_incident")),
                name="incidentlink_not_itself",
                violation_error_message="An incident cannot be linked to itself.",
            ),
        ]

    def __str__(self) -> str:
        return f"INC-{self.from_incident_id} {self.get_kind_display().lower()} INC-{self.to_incident_id}"

    def label_from(self, incident_id: int) -> str:
        """How the link reads on `incident_id`'s page, before the other incident's reference."""
        if incident_id == self.from_incident_id:
            return self.get_kind_display()
        return self.REVERSE[self.Kind(self.kind)]

    def other(self, incident_id: int) -> Incident:
        return self.to_incident if incident_id == self.from_incident_id else self.from_incident
