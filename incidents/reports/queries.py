"""The figures of /reports/, computed by the database: a fixed number of queries whatever the
number of incidents (docs/reports.md defines each figure).

Every query starts from `Incident.objects.visible_to(user)`: a restricted incident counts only
for those allowed to see it. Periods are calendar months and ISO weeks (Monday) in the time zone
of the request (the user's, else the site's); an incident belongs to the period of its report
(`reported_at`), as in the incident list's date filter that every figure links to.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import mean

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Window,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Lag, RowNumber, TruncMonth, TruncWeek
from django.utils import timezone

from incidents import budget as error_budget
from incidents.budget import Budget, budgets, burn_by_month  # noqa: F401  (the reports' names for them)
from incidents.models import Alert, Incident, Service, access_condition

MONTHS = 12
WEEKS = 12
REPEAT_WINDOW = timedelta(days=30)
TOP_ALERTS = 3

# (key, label, end column, start column): the durations shown per period.
DURATIONS = [
    ("ack_reported", "Report → acknowledged", "acknowledged_at", "reported_at"),
    ("ack_occurred", "Start → acknowledged", "acknowledged_at", "occurred_at"),
    ("mitigate_reported", "Report → mitigated", "mitigated_at", "reported_at"),
    ("mitigate_occurred", "Start → mitigated", "mitigated_at", "occurred_at"),
    ("resolve_reported", "Report → resolved", "resolved_at", "reported_at"),
    ("resolve_occurred", "Start → resolved", "resolved_at", "occurred_at"),
]


def duration(end: str, start: str):
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


# --- periods ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, local midnight
    end: datetime  # exclusive
    label: str
    key: date  # the local date the period starts on

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(hours=12)).date()


def _midnight(day: date, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), tz)


def months(today: date, tz, count: int = MONTHS) -> list[Period]:
    """The last `count` calendar months, the current one last."""
    first = today.replace(day=1)
    starts = []
    for _ in range(count):
        starts.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    starts.reverse()
    periods = []
    for start in starts:
        following = (start + timedelta(days=32)).replace(day=1)
        periods.append(Period(_midnight(start, tz), _midnight(following, tz), start.strftime("%b %Y"), start))
    return periods


def weeks(today: date, tz, count: int = WEEKS) -> list[Period]:
    """The last `count` ISO weeks (Monday to Sunday), the current one last."""
    monday = today - timedelta(days=today.weekday())
    periods = []
    for back in range(count - 1, -1, -1):
        start = monday - timedelta(weeks=back)
        end = start + timedelta(weeks=1)
        year, week, _ = start.isocalendar()
        periods.append(Period(_midnight(start, tz), _midnight(end, tz), f"{year}-W{week:02d}", start))
    return periods


# --- filters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    service: Service | None = None
    type: object = None  # IncidentType
    severity: str = ""
    source: str = ""
    # "My teams" or everything (incidents/teams.py Scope); None: everything, as for a user in no team.
    scope: object = None

    @property
    def team_ids(self) -> list[int] | None:
        return self.scope.team_ids if self.scope is not None else None

    def apply(self, queryset, prefix: str = ""):
        if self.scope is not None:
            queryset = self.scope.apply(queryset, prefix)
        conditions = {}
        if self.service is not None:
            conditions[f"{prefix}service"] = self.service
        if self.type is not None:
            conditions[f"{prefix}type"] = self.type
        if self.severity:
            conditions[f"{prefix}severity"] = self.severity
        if self.source:
            conditions[f"{prefix}source"] = self.source
        return queryset.filter(**conditions)

    def query(self) -> dict[str, str]:
        """The same selection as incident-list parameters (incidents/filters.py)."""
        found = {}
        if self.service is not None:
            found["service"] = self.service.slug
        if self.type is not None:
            found["type"] = self.type.slug
        if self.severity:
            found["severity"] = self.severity
        if self.source:
            found["source"] = self.source
        if self.scope is not None and self.scope.teams:
            found["teams"] = self.scope.value
        return found


# --- response times per period -----------------------------------------------------------


@dataclass
class Row:
    period: Period
    count: int = 0
    means: dict = field(default_factory=dict)  # key -> timedelta | None
    medians: dict = field(default_factory=dict)
    with_target: int = 0  # incidents of a severity that has an acknowledgement target
    in_target: int = 0

    @property
    def in_target_share(self) -> float | None:
        return self.in_target / self.with_target if self.with_target else None


def _in_target() -> Q:
    condition = Q(pk__in=[])
    for severity, minutes in settings.REPORT_ACK_TARGET_MINUTES.items():
        condition |= Q(
            severity=severity,
            acknowledged_at__isnull=False,
            acknowledged_at__lte=F("reported_at") + timedelta(minutes=minutes),
        )
    return condition


def _bucket(kind: str, tz):
    trunc = TruncMonth if kind == "month" else TruncWeek
    return trunc("reported_at", tzinfo=tz)


def _key(value) -> date:
    """A truncated period start from the database, as its local date."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.date()
    return value


def trend(incidents, periods: list[Period], kind: str, tz) -> list[Row]:
    """Count, mean and median durations and the share acknowledged in time, per period. On
    PostgreSQL one query (PERCENTILE_CONT); elsewhere (SQLite, which has no such aggregate) one
    more per duration, the medians found with window functions. Both give the same numbers."""
    rows = {p.key: Row(p) for p in periods}
    window = incidents.filter(reported_at__gte=periods[0].start, reported_at__lt=periods[-1].end)
    targeted = list(settings.REPORT_ACK_TARGET_MINUTES)
    aggregates = window.annotate(bucket=_bucket(kind, tz)).values("bucket").order_by("bucket")
    in_sql = connection.vendor == "postgresql"
    aggregates = aggregates.annotate(
        n=Count("pk"),
        with_target=Count("pk", filter=Q(severity__in=targeted)),
        in_target=Count("pk", filter=_in_target()),
        **{key: Avg(duration(end, start)) for key, _, end, start in DURATIONS},
        **({f"median_{key}": Median(duration(end, start)) for key, _, end, start in DURATIONS} if in_sql else {}),
    )
    for found in aggregates:
        row = rows.get(_key(found["bucket"]))
        if row is None:
            continue
        row.count, row.with_target, row.in_target = found["n"], found["with_target"], found["in_target"]
        row.means = {key: found[key] for key, *_ in DURATIONS}
        if in_sql:
            row.medians = {key: found[f"median_{key}"] for key, *_ in DURATIONS if found[f"median_{key}"] is not None}
    if not in_sql:
        for key, _, end, start in DURATIONS:
            for bucket, value in medians(window.filter(**{f"{end}__isnull": False}), _bucket(kind, tz), end, start):
                row = rows.get(_key(bucket))
                if row is not None:
                    row.medians[key] = value
    return list(rows.values())


class Median(Aggregate):
    """PostgreSQL's ordered-set aggregate: the median of the non-null values of a group (of two
    middle values, their mean), in the same pass as the counts and means."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def medians(queryset, bucket, end: str, start: str) -> list[tuple[object, timedelta]]:
    """The median of `end - start` per bucket, in one query: each row is numbered within its
    bucket by its duration, and only the middle one (odd count) or two (even) come back."""
    ranked = (
        queryset.annotate(bucket=bucket, took=duration(end, start))
        .annotate(
            position=Window(RowNumber(), partition_by=[F("bucket")], order_by=[F("took").asc(), F("pk").asc()]),
            size=Window(Count("pk"), partition_by=[F("bucket")]),
        )
        .filter(position__gte=F("size") / 2.0, position__lte=F("size") / 2.0 + 1)
        .values_list("bucket", "took")
    )
    # size / 2 <= position <= size / 2 + 1 holds for the middle row of an odd size ((size + 1) / 2)
    # and the middle two of an even one (size / 2 and size / 2 + 1).
    middle: dict = {}
    for found_bucket, took in ranked:
        middle.setdefault(found_bucket, []).append(took)
    return [(b, timedelta(seconds=mean(t.total_seconds() for t in values))) for b, values in middle.items()]


# --- per service ---------------------------------------------------------------------------


def impact_by_service(user, filters: Filters, start: datetime, end: datetime, moment: datetime) -> dict[int, timedelta]:
    """{service id: impact inside [start, end)} over the incidents (visible to `user`) whose impact
    window overlaps the period, whenever they were reported."""
    overlapping = error_budget.overlapping(filters.apply(Incident.objects.visible_to(user)), start, end, moment)
    inside = error_budget.impact_inside(start, end)
    rows = overlapping.values("service").order_by("service").annotate(impact=Sum(inside))
    return {row["service"]: row["impact"] or timedelta(0) for row in rows}


@dataclass
class ServiceRow:
    service: Service
    count: int = 0
    impact: timedelta = timedelta(0)
    top_alerts: list = field(default_factory=list)  # [(alertname, incidents)]
    repeats: list = field(default_factory=list)  # [(title, repeat incidents)]
    repeat_alerts: list = field(default_factory=list)  # [(alertname, repeat incidents)]
    budget: Budget | None = None  # this month's, when the service has an objective
    burn: list | None = None  # [Budget] per month of the report, when it has one
    href: str = ""

    @property
    def impact_minutes(self) -> int:
        return round(self.impact.total_seconds() / 60)


def per_service(user, filters: Filters, start: datetime, end: datetime, moment: datetime) -> list[ServiceRow]:
    """Incidents reported in [start, end), impact inside it, top alert names and repeat offenders
    (by title and by alert name), per service: five queries, plus one for the services."""
    visible = filters.apply(Incident.objects.visible_to(user))
    reported = visible.filter(reported_at__gte=start, reported_at__lt=end)
    services = Service.objects.order_by("name")
    if filters.service is not None:
        services = services.filter(pk=filters.service.pk)
    if filters.team_ids is not None:  # "my teams": their services and those of no team
        services = services.filter(Q(team__in=filters.team_ids) | Q(team__isnull=True))
    rows = {s.pk: ServiceRow(s) for s in services.only("name", "slug")}
    for found in reported.values("service").order_by("service").annotate(n=Count("pk")):
        if found["service"] in rows:
            rows[found["service"]].count = found["n"]
    for service_id, impact in impact_by_service(user, filters, start, end, moment).items():
        if service_id in rows:
            rows[service_id].impact = impact
    alerts = (
        Alert.objects.filter(group__incident__in=reported.values("pk"))
        .annotate(alertname=KeyTextTransform("alertname", "labels"), service_id=F("group__incident__service_id"))
        .exclude(alertname__isnull=True)
        .values("service_id", "alertname")
        .order_by()
        .annotate(n=Count("group__incident", distinct=True))
        .order_by("service_id", "-n", "alertname")
    )
    for found in alerts:
        row = rows.get(found["service_id"])
        if row is not None and len(row.top_alerts) < TOP_ALERTS:
            row.top_alerts.append((found["alertname"], found["n"]))
    # A repeat: an incident with the same title on the same service as another one the report
    # selects (so visible to the same user) reported in the 30 days before it. Each incident is
    # compared with the previous one of its service and title (LAG over the index
    # incident_service_title), not with every earlier one: linear however often a title repeats.
    previous = Window(Lag("reported_at"), partition_by=[F("service"), F("title")], order_by=F("reported_at").asc())
    repeating = (
        visible.filter(reported_at__gte=start - REPEAT_WINDOW, reported_at__lt=end)
        .annotate(previous=previous)
        .filter(reported_at__gte=start, previous__gte=F("reported_at") - REPEAT_WINDOW)
        .values("pk")
    )
    repeats = (
        Incident.objects.filter(pk__in=repeating)
        .values("service", "title")
        .order_by()
        .annotate(n=Count("pk"))
        .order_by("service", "-n", "title")
    )
    for found in repeats:
        row = rows.get(found["service"])
        if row is not None and len(row.repeats) < TOP_ALERTS:
            row.repeats.append((found["title"], found["n"]))
    # The same for the alert that opened an incident (its group's alertname): an alert that keeps
    # coming back under changing titles is a repeat offender too.
    for found in _repeat_alerts(visible, start, end):
        row = rows.get(found["service"])
        if row is not None and len(row.repeat_alerts) < TOP_ALERTS:
            row.repeat_alerts.append((found["alertname"], found["n"]))
    return list(rows.values())


def _alertname():
    """The alert name an incident's alert group was formed on (groupLabels, else the labels its
    alerts had in common); null for incidents not opened by Alertmanager."""
    return Coalesce(
        KeyTextTransform("alertname", "alert_group__group_labels"),
        KeyTextTransform("alertname", KeyTextTransform("commonLabels", "alert_group__last_payload")),
    )


def _repeat_alerts(visible, start: datetime, end: datetime):
    """(service, alertname, n): incidents reported in [start, end) whose alert opened another
    incident of the service in the 30 days before (the previous one, LAG, as for titles)."""
    named = visible.filter(reported_at__gte=start - REPEAT_WINDOW, reported_at__lt=end).annotate(alertname=_alertname())
    previous = Window(Lag("reported_at"), partition_by=[F("service"), F("alertname")], order_by=F("reported_at").asc())
    repeating = (
        named.filter(alertname__isnull=False)
        .annotate(previous=previous)
        .filter(reported_at__gte=start, previous__gte=F("reported_at") - REPEAT_WINDOW)
        .values("pk")
    )
    return (
        Incident.objects.filter(pk__in=repeating)
        .annotate(alertname=_alertname())
        .values("service", "alertname")
        .order_by()
        .annotate(n=Count("pk"))
        .order_by("service", "-n", "alertname")
    )


def some_hidden(user, filters: Filters, start: datetime, end: datetime) -> bool:
    """Whether incidents in the period are left out because `user` may not see them."""
    condition = access_condition(user)
    if not condition:
        return False
    return (
        filters.apply(Incident.objects.all())
        .filter(reported_at__gte=start, reported_at__lt=end)
        .exclude(condition)
        .exists()
    )
