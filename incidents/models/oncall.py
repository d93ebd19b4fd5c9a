"""On-call rotations: who answers for which service, and who covers for whom.

The schedule arithmetic lives in `incidents/oncall/schedule.py` (pure, no database); these models
only store what a manager typed. `incidents/oncall/paging.py` loads them in a bounded number of
queries and asks `oncall.py` who is on call.
"""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.timezone import now

from incidents.models.core import Service

# Upper bound of an hours-based shift: four weeks. Longer is a typing mistake, not a rotation.
MAX_SHIFT_HOURS = 24 * 28


def validate_time_zone(value: str) -> None:
    """An IANA zone name such as "Europe/London"; anything else is refused with a clear message."""
    if not value or value != value.strip():
        raise ValidationError("Enter an IANA time zone such as Europe/London.")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London, America/New_York).") from None


class Rotation(models.Model):
    """An ordered list of people who take turns being on call.

    Shifts start at `start_date` + `handoff_time` in `time_zone`. Daily and weekly shifts
    hand off at the same local wall-clock time every day/week (so a shift across a DST
    change is 23 or 25 hours long); hours-based shifts count real elapsed hours from the
    first handoff (so their local handoff time moves by an hour across a DST change).
    """

    class ShiftKind(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        HOURS = "hours", "Every N hours"

    name = models.CharField(max_length=100, unique=True)
    services = models.ManyToManyField(
        Service, blank=True, related_name="rotations", help_text="The services this rotation answers for."
    )
    is_default = models.BooleanField(
        "default for everything",
        default=False,
        help_text="Answers for every service no other rotation covers. At most one rotation is the default.",
    )
    shift_kind = models.CharField("shift length", max_length=8, choices=ShiftKind, default=ShiftKind.WEEKLY)
    shift_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Only for “every N hours”: the length of one shift in hours."
    )
    handoff_time = models.TimeField(default=dt.time(9, 0), help_text="Local time at which one shift hands over.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    start_date = models.DateField(help_text="The first shift starts on this day at the handoff time.")
    # The team whose managers configure this rotation (incidents/models/teams.py).
    team = models.ForeignKey(
        "incidents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotations"
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Assignment falls back to "the" default rotation; two would make that a coin toss.
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="rotation_one_default"),
            models.CheckConstraint(
                condition=(Q(shift_kind="hours") & Q(shift_hours__gte=1) & Q(shift_hours__lte=MAX_SHIFT_HOURS))
                | (~Q(shift_kind="hours") & Q(shift_hours__isnull=True)),
                name="rotation_hours_only_for_hourly",
            ),
            models.CheckConstraint(condition=Q(shift_kind__in=["daily", "weekly", "hours"]), name="rotation_kind"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.shift_kind == self.ShiftKind.HOURS:
            if not self.shift_hours:
                raise ValidationError({"shift_hours": "Say how many hours one shift lasts."})
            if not 1 <= self.shift_hours <= MAX_SHIFT_HOURS:
                raise ValidationError({"shift_hours": f"A shift lasts between 1 and {MAX_SHIFT_HOURS} hours."})
        else:
            self.shift_hours = None
        if self.is_default:
            other = Rotation.objects.filter(is_default=True).exclude(pk=self.pk).first()
            if other is not None:
                raise ValidationError(
                    {"is_default": f"“{other.name}” is already the default rotation; only one may be."}
                )

    @property
    def zoneinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class RotationMember(models.Model):
    """One person's place in a rotation's order (position 0 takes the first shift)."""

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rotation_memberships")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["rotation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rotation", "position"], name="rotation_member_position"),
            models.UniqueConstraint(fields=["rotation", "user"], name="rotation_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} #{self.position} in {self.rotation}"


class Override(models.Model):
    """`user` is on call for `rotation` from `start` to `end`, whoever the schedule says.

    `covered_user` (optional) records whom they cover for; the override applies to the
    whole period either way. Where overrides overlap, the one created last wins.
    """

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_overrides", verbose_name="covering"
    )
    covered_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="covering for",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["start", "pk"]
        constraints = [models.CheckConstraint(condition=Q(end__gt=F("start")), name="override_ends_after_start")]
        indexes = [
            # Overrides still in force or to come, per rotation (paging.load_schedules).
            models.Index(fields=["rotation", "end"], name="override_rotation_end"),
        ]

    def __str__(self) -> str:
        return f"{self.user} covers {self.rotation} from {self.start:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "The end must be after the start."})
        if self.user_id and self.covered_user_id and self.user_id == self.covered_user_id:
            raise ValidationError({"covered_user": "Someone cannot cover for themselves."})


class Handoff(models.Model):
    """One handoff of a rotation that Beacon summarised for the incoming engineer.

    The unique (rotation, at) pair makes the handoff task idempotent: a repeated or
    duplicated task finds the row and does nothing.
    """

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="handoffs")
    at = models.DateTimeField()
    incoming = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    outgoing = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.CharField(max_length=200)
    text = models.TextField()
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["rotation", "at"], name="handoff_once")]

    def __str__(self) -> str:
        return f"{self.rotation} handoff at {self.at:%Y-%m-%d %H:%M}"
