"""The on-call load report (/oncall/load/): per person and calendar month, pages received, pages
at night in their own time zone, hours on call and incidents led, so that a manager can see
whether the load is shared fairly. docs/oncall.md ("On-call load") defines each figure.

A fixed number of queries whatever the history: the rotations as every on-call page loads them
(four), then the month's pages (their person and time only: bounded by the month, not by the
history), the month's lead changes counted per person by the database, and the people named.

Need-to-know: pages and leads count only for incidents the viewer may see
(`access.incident_condition`), and nothing about an incident but the fact of a page or a lead
reaches the report: no title, no reference.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from incidents import access
from incidents.models import Profile, TimelineEntry
from incidents.oncall import paging
from incidents.people import display_name

Kind = TimelineEntry.Kind


@dataclass(frozen=True)
class Month:
    """A calendar month in a time zone: [start, end) as the UTC instants of its local midnights.

    UTC, not the local zone: Python subtracts two datetimes of one tzinfo by their wall clocks,
    which would make a month with a clock change 744 hours long instead of 743 or 745."""

    first: dt.date
    zone: dt.tzinfo

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time.min, tzinfo=self.zone).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.following, dt.time.min, tzinfo=self.zone).astimezone(dt.UTC)

    @property
    def following(self) -> dt.date:
        return (self.first + dt.timedelta(days=32)).replace(day=1)

    @property
    def last_day(self) -> dt.date:
        return self.following - dt.timedelta(days=1)

    @property
    def preceding(self) -> dt.date:
        return (self.first - dt.timedelta(days=1)).replace(day=1)

    @property
    def key(self) -> str:
        """As the month picker and `?month=` spell it: 2026-03."""
        return f"{self.first:%Y-%m}"

    @property
    def label(self) -> str:
        return f"{self.first:%B %Y}"


def is_night(local: dt.datetime) -> bool:
    """Whether a local time falls in the night of ONCALL_NIGHT_START:00 to ONCALL_NIGHT_END:00
    (start included, end not). A night that crosses midnight (22 to 7) is the usual case; one
    within a day (0 to 6) works too."""
    start, end = settings.ONCALL_NIGHT_START, settings.ONCALL_NIGHT_END
    if start > end:
        return local.hour >= start or local.hour < end
    return start <= local.hour < end


def night_label() -> str:
    return f"{settings.ONCALL_NIGHT_START:02d}:00–{(settings.ONCALL_NIGHT_END - 1) % 24:02d}:59"


def site_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def zone_of(user) -> zoneinfo.ZoneInfo:
    """The person's own time zone (profile), else the site's: where their nights are."""
    try:
        zone = user.profile.zoneinfo
    except Profile.DoesNotExist:
        zone = None
    return zone or site_zone()


@dataclass
class Load:
    """One person's month."""

    user: Any
    pages: int = 0
    night_pages: int = 0
    on_call: dt.timedelta = dt.timedelta(0)
    led: int = 0
    zone: zoneinfo.ZoneInfo = field(default_factory=site_zone)

    @property
    def name(self) -> str:
        return display_name(self.user)

    @property
    def hours(self) -> float:
        return self.on_call.total_seconds() / 3600


def _union(intervals: list[tuple[dt.datetime, dt.datetime]]) -> dt.timedelta:
    """The length of a union of intervals: someone on call for two rotations at once is on call
    for one hour per hour, not two."""
    total, reached = dt.timedelta(0), None
    for start, end in sorted(intervals):
        if reached is not None and start < reached:
            start = reached
        if end > start:
            total += end - start
            reached = end
    return total


def hours_on_call(month: Month, *, until: dt.datetime) -> tuple[dict[int, dt.timedelta], dict[int, Any]]:
    """Per person (by pk), the time on call in the month up to `until`, from the rotations as
    Beacon pages from them (overrides count for the person covering), and the people met (users).
    Four queries."""
    start, end = month.start, min(month.end, until)
    intervals: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    people: dict[int, Any] = {}
    if end <= start:
        return {}, people
    for schedule in paging.load_schedules(at=start):
        # Members with no shift this month are part of the picture too: a zero is a fact.
        for member in schedule.members:
            people.setdefault(member.pk, member)
        for shift in schedule.timeline(start, end):
            people.setdefault(shift.user.pk, shift.user)
            intervals.setdefault(shift.user.pk, []).append((max(shift.start, start), min(shift.end, end)))
    return {pk: _union(spans) for pk, spans in intervals.items()}, people


def month_load(viewer, month: Month, *, at: dt.datetime | None = None) -> list[Load]:
    """Everyone's load in `month`, by name: members of a rotation, and anyone on call, paged or
    made lead in the month (deactivated people included: their month happened). Seven queries."""
    at = at or timezone.now()
    hours, people = hours_on_call(month, until=at)
    visible = access.incident_condition(viewer, "incident__")
    in_month = TimelineEntry.objects.filter(visible, created_at__gte=month.start, created_at__lt=month.end)
    # Only who and when, for the month: the night test needs each person's zone, which SQLite
    # cannot convert to, and a month's pages are few next to the history.
    pages = list(
        in_month.filter(kind__in=paging.PAGE_KINDS)
        # An escalation that found no channel for someone did not page them (paging.escalation_step).
        .exclude(data__has_key="unreachable")
        .annotate(person=KeyTextTransform("user_id", "data"))
        .order_by()
        .values_list("person", "created_at")
    )
    leads = (
        in_month.filter(kind=Kind.LEAD_CHANGE)
        .annotate(person=KeyTextTransform("new_id", "data"))
        .exclude(person__isnull=True)
        .order_by()
        .values("person")
        .annotate(incidents=Count("incident_id", distinct=True))
    )
    led = {pk: row["incidents"] for row in leads if (pk := _pk(row["person"])) is not None}
    paged = [(pk, created_at) for person, created_at in pages if (pk := _pk(person)) is not None]
    wanted = ({pk for pk, _ in paged} | set(led)) - set(people)
    if wanted:
        User = get_user_model()
        people.update((u.pk, u) for u in User.objects.filter(pk__in=wanted).select_related("profile"))

    rows = {pk: Load(user, zone=zone_of(user)) for pk, user in people.items()}
    for pk, created_at in paged:
        row = rows.get(pk)
        if row is None:  # a page naming a user since deleted
            continue
        row.pages += 1
        row.night_pages += is_night(created_at.astimezone(row.zone))
    for pk, count in led.items():
        if pk in rows:
            rows[pk].led = count
    for pk, spent in hours.items():
        rows[pk].on_call = spent
    return sorted(rows.values(), key=lambda row: (row.name.lower(), row.user.pk))


def _pk(value) -> int | None:
    """A user id read out of an entry's JSON (text from KeyTextTransform), None when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
