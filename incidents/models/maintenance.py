"""Maintenance windows and silences: planned work that should page nobody, and alerts nobody
needs to hear of (docs/maintenance.md).

A *window* covers services for a time: alerts for them still open and update incidents, but
nobody is paged (`incidents/maintenance/`, checked at the top of `oncall.paging.page`), and the
status page announces it. A *silence* is a set of label matchers, like Alertmanager's: a
matching alert is recorded (`SilencedAlert`) but opens no incident and pages nobody
(`incidents/alerts/intake.py`). Both match by the time an alert arrives, so an expired silence
or an ended window stops matching on time, without any task.

Neither is ever deleted or edited from Beacon's pages: they are cancelled, so the audit log
(incidents/audit.py) and the status page's history keep what was planned.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from incidents.models.alerts import AlertGroup
from incidents.models.core import Service

# Alertmanager's matcher operators: equal, not equal, regex match, regex no match.
OPERATORS = ("=", "!=", "=~", "!~")
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MATCHER_VALUE_MAX = 1000
MATCHERS_MAX = 20
DESCRIPTION_MAX = 2000
COMMENT_MAX = 1000
# One matcher written as text: `name op value`, the value optionally in double quotes.
MATCHER_TEXT = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"(.*)"|(.*?))\s*$')


def no_nul(value: str) -> None:
    """PostgreSQL text cannot hold NUL: refuse it with a message rather than a database error."""
    if "\x00" in (value or ""):
        raise ValidationError("Null characters are not allowed.", code="null_characters_not_allowed")


class CancellableQuerySet(models.QuerySet):
    def live(self):
        """Not cancelled."""
        return self.filter(cancelled_at__isnull=True)


class Cancellable(models.Model):
    """Who made it and when, and who cancelled it and when: windows and silences are cancelled,
    never deleted (incidents/maintenance/rules.py, `cancel`)."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        abstract = True


class MaintenanceWindowQuerySet(CancellableQuerySet):
    def active(self, at=None):
        """In force at `at`: started, not ended, not cancelled."""
        at = at or now()
        return self.live().filter(start__lte=at, end__gt=at)

    def current_or_upcoming(self, at=None):
        """Not over yet (ongoing or scheduled), not cancelled: what the pages announce."""
        return self.live().filter(end__gt=at or now())


class MaintenanceWindow(Cancellable):
    """Planned work on services from `start` to `end`. The description is public: the status page
    and the stakeholders' emails show it, so it says what users will notice, not how."""

    services = models.ManyToManyField(Service, related_name="maintenance_windows")
    start = models.DateTimeField()
    end = models.DateTimeField()
    description = models.TextField(
        max_length=DESCRIPTION_MAX,
        validators=[no_nul],
        help_text="Public: shown on the status page and emailed to the services' stakeholders.",
    )

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        ordering = ["start", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")),
                name="maintenancewindow_end_after_start",
                violation_error_message="The end must be after the start.",
            ),
        ]
        indexes = [models.Index(fields=["end", "start"], name="maintenance_window_time")]

    def __str__(self) -> str:
        return f"Maintenance #{self.pk}: {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        super().clean()
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "The end must be after the start."})

    def state(self, at=None) -> str:
        """ "cancelled", "scheduled", "ongoing" or "ended"."""
        at = at or now()
        if self.cancelled_at is not None:
            return "cancelled"
        if at < self.start:
            return "scheduled"
        return "ongoing" if at < self.end else "ended"


def validate_matchers(matchers) -> list[dict]:
    """The matchers, checked: a list of {"name", "op", "value"}; ValidationError naming the first
    one that is wrong. At least one must not match an empty label, as Alertmanager requires,
    or the silence would silence every alert."""
    if not isinstance(matchers, list) or not matchers:
        raise ValidationError("Give at least one matcher.")
    if len(matchers) > MATCHERS_MAX:
        raise ValidationError(f"At most {MATCHERS_MAX} matchers.")
    cleaned = []
    for number, matcher in enumerate(matchers, start=1):
        if not isinstance(matcher, dict) or set(matcher) != {"name", "op", "value"}:
            raise ValidationError(f"Matcher {number}: give exactly a name, an op and a value.")
        name, op, value = matcher["name"], matcher["op"], matcher["value"]
        if not all(isinstance(part, str) for part in (name, op, value)):
            raise ValidationError(f"Matcher {number}: the name, op and value must be text.")
        if "\x00" in name + value:
            raise ValidationError(f"Matcher {number}: null characters are not allowed.")
        if not LABEL_NAME.match(name):
            raise ValidationError(f"Matcher {number}: “{name[:100]}” is not a label name (letters, digits, _).")
        if op not in OPERATORS:
            raise ValidationError(f"Matcher {number}: the op must be one of {', '.join(OPERATORS)}.")
        if len(value) > MATCHER_VALUE_MAX:
            raise ValidationError(f"Matcher {number}: the value is longer than {MATCHER_VALUE_MAX} characters.")
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as error:
                raise ValidationError(
                    f"Matcher {number}: “{value[:100]}” is not a valid regular expression: {error}."
                ) from None
        cleaned.append({"name": name, "op": op, "value": value})
    if all(_matches(m, {}) for m in cleaned):
        raise ValidationError(
            "Every matcher matches an alert without that label: this silence would silence every alert. "
            'Add a matcher that needs a label value (e.g. alertname="...").'
        )
    return cleaned


def parse_matchers(text: str) -> list[dict]:
    """Matchers written one per line (`alertname="HighLatency"`, `instance=~"web-.*"`), checked."""
    matchers = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        found = MATCHER_TEXT.match(line)
        if found is None:
            raise ValidationError(
                f"Line {number}: “{line.strip()[:100]}” is not a matcher; write name=value, name!=value, "
                "name=~regex or name!~regex."
            )
        name, op, quoted, bare = found.groups()
        matchers.append({"name": name, "op": op, "value": quoted if quoted is not None else bare})
    return validate_matchers(matchers)


def matchers_text(matchers: list[dict]) -> str:
    return ", ".join(f'{m["name"]}{m["op"]}"{m["value"]}"' for m in matchers)


def _matches(matcher: dict, labels: dict[str, str]) -> bool:
    # As Alertmanager: a missing label is the empty string; regexes are anchored at both ends.
    value = labels.get(matcher["name"], "")
    op = matcher["op"]
    if op == "=":
        return value == matcher["value"]
    if op == "!=":
        return value != matcher["value"]
    found = re.fullmatch(matcher["value"], value) is not None
    return found if op == "=~" else not found


class SilenceQuerySet(CancellableQuerySet):
    def active(self, at=None):
        """In force at `at`: started, not expired, not cancelled."""
        at = at or now()
        return self.live().filter(starts_at__lte=at, expires_at__gt=at)


class Silence(Cancellable):
    """Alerts whose labels match every matcher, from `starts_at` until `expires_at`, are recorded
    but open no incident and page nobody."""

    matchers = models.JSONField(help_text='A list of {"name", "op", "value"}; op is =, !=, =~ or !~.')
    starts_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    comment = models.TextField(max_length=COMMENT_MAX, blank=True, validators=[no_nul])
    # The alert group panel it was made from ("silence this alert for 2 h"), if any.
    alert_group = models.ForeignKey(
        AlertGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="silences"
    )

    objects = SilenceQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("starts_at")),
                name="silence_expires_after_start",
                violation_error_message="The expiry must be after the start.",
            ),
        ]
        indexes = [models.Index(fields=["expires_at", "starts_at"], name="silence_time")]

    def __str__(self) -> str:
        return f"Silence #{self.pk}: {matchers_text(self.matchers or [])}"

    def clean(self) -> None:
        super().clean()
        try:
            self.matchers = validate_matchers(self.matchers)
        except ValidationError as error:
            raise ValidationError({"matchers": error.messages}) from None
        if self.starts_at and self.expires_at and self.expires_at <= self.starts_at:
            raise ValidationError({"expires_at": "The expiry must be after the start."})

    def matches(self, labels: dict[str, str]) -> bool:
        return all(_matches(m, labels) for m in self.matchers)

    @property
    def text(self) -> str:
        return matchers_text(self.matchers)


def silence_for(labels: dict[str, str], silences) -> "Silence | None":
    """The first of `silences` (loaded once per delivery) matching these labels, or None."""
    return next((s for s in silences if s.matches(labels)), None)


class SilencedAlert(models.Model):
    """An alert a silence held back: recorded, with the silence that matched, and nothing else.
    Identified like an Alert by (fingerprint, startsAt), so a re-sent group adds nothing."""

    silence = models.ForeignKey(Silence, on_delete=models.CASCADE, related_name="silenced_alerts")
    fingerprint = models.CharField(max_length=128)
    starts_at = models.DateTimeField()
    status = models.CharField(max_length=8)
    labels = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-received_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "starts_at"], name="silencedalert_fingerprint_starts_at"),
        ]

    def __str__(self) -> str:
        return f"{self.labels.get('alertname', 'alert')} {self.fingerprint} silenced by #{self.silence_id}"
