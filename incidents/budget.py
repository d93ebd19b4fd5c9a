"""Error budgets: a service's availability objective (Service.availability_objective, per cent of
each calendar month) and the incidents' user-impact windows that burn it, weighted by severity
(settings.ERROR_BUDGET_FACTORS). Read by /reports/, the service page and /metrics; docs/reports.md.

An incident's impact window runs from its start (occurred_at) to its mitigation (or resolution;
still going: now), unless a responder corrected it (workflow.adjust_impact, with a reason).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from incidents.models import Incident, Service


def impact_window(moment: datetime):
    """An incident's user-impact window: as a responder corrected it (workflow.adjust_impact), else
    from its start (occurred_at) to its mitigation (or resolution; `moment` while neither)."""
    started = Coalesce("impact_started_at", "occurred_at", output_field=DateTimeField())
    ended = Coalesce("impact_ended_at", "mitigated_at", "resolved_at", Value(moment, output_field=DateTimeField()))
    return started, ended


def impact_inside(start: datetime, end: datetime):
    """The part of each incident's impact window inside [start, end), as a duration."""
    clipped_end = Least(F("impact_end"), Value(end, output_field=DateTimeField()))
    clipped_start = Greatest(F("impact_start"), Value(start, output_field=DateTimeField()))
    return ExpressionWrapper(clipped_end - clipped_start, output_field=DurationField())


def overlapping(queryset, start: datetime, end: datetime, moment: datetime):
    started, ended = impact_window(moment)
    return (
        queryset.alias(impact_start=started, impact_end=ended)
        .filter(impact_start__lt=end, impact_end__gt=start)
        .filter(impact_end__gt=F("impact_start"))
    )


def percent_text(value: Decimal) -> str:
    """99.900 -> "99.9", 99.95 -> "99.95": an objective as people write it."""
    return format(value.normalize(), "f")


@dataclass
class Budget:
    objective: Decimal  # per cent
    allowed: timedelta  # the month's budget
    burned: timedelta  # impact inside the month, weighted by severity
    elapsed: timedelta  # of the month, up to now

    @property
    def objective_text(self) -> str:
        return percent_text(self.objective)

    @property
    def left_share(self) -> float:
        """The share of the month's budget not yet burned (negative: overspent)."""
        if not self.allowed:
            return 0.0
        return 1 - self.burned / self.allowed

    @property
    def burned_percent(self) -> float:
        """Per cent of the month's budget burned (over 100: overspent)."""
        return round(100 * (1 - self.left_share), 1)

    @property
    def left_percent(self) -> float:
        return round(100 * self.left_share, 1)

    @property
    def availability(self) -> float:
        """Per cent of the month so far that users were not hurt (weighted by severity)."""
        if not self.elapsed:
            return 100.0
        return max(0.0, 100 * (1 - self.burned / self.elapsed))


def burn_by_month(user, months: list, moment: datetime, service: Service | None = None) -> dict[int, list[Budget]]:
    """{service id: [its Budget for each of `months`]} for the services with an availability
    objective. A month is anything with an aware `start` and an exclusive `end` (a calendar month in
    the user's time zone, `Month`). Two queries however many months: the objectives, and one sum per
    month in one grouped query. Need-to-know: only the incidents `user` may see burn what they are
    shown."""
    services = Service.objects.filter(availability_objective__isnull=False)
    if service is not None:
        services = services.filter(pk=service.pk)
    # Never None: the services were filtered on it.
    objectives: dict[int, Decimal] = dict(services.values_list("pk", "availability_objective"))  # type: ignore[arg-type]
    if not objectives or not months:
        return {}
    zero = Value(timedelta(0), output_field=DurationField())
    # Clipped at zero: an incident of the whole range may lie outside one of its months.
    sums = {f"m{n}": Sum(Greatest(impact_inside(month.start, month.end), zero)) for n, month in enumerate(months)}
    visible = Incident.objects.visible_to(user).filter(service__in=list(objectives))
    rows = (
        overlapping(visible, months[0].start, months[-1].end, moment)
        .values("service", "severity")
        .order_by("service", "severity")
        .annotate(**sums)
    )
    factors = settings.ERROR_BUDGET_FACTORS
    burned = {pk: [timedelta(0)] * len(months) for pk in objectives}
    for row in rows:
        factor = factors.get(row["severity"], 0.0)
        for n in range(len(months)):
            burned[row["service"]][n] += (row[f"m{n}"] or timedelta(0)) * factor
    return {
        pk: [
            Budget(
                objective,
                allowed(month, objective),
                burned[pk][n],
                min(max(moment - month.start, timedelta(0)), length(month)),
            )
            for n, month in enumerate(months)
        ]
        for pk, objective in objectives.items()
    }


def budgets(user, month, moment: datetime, service: Service | None = None) -> dict[int, Budget]:
    """{service id: Budget} over one month: `burn_by_month` for a single month."""
    return {pk: found[0] for pk, found in burn_by_month(user, [month], moment, service).items()}


def length(month) -> timedelta:
    """A month's real duration. In UTC: two times of one zone subtract as wall clocks, which would
    miss the hour a clock change adds or takes away."""
    return month.end.astimezone(UTC) - month.start.astimezone(UTC)


def allowed(month, objective: Decimal) -> timedelta:
    """The month's error budget: its length times 100 % minus the objective."""
    return length(month) * float((100 - objective) / 100)


@dataclass(frozen=True)
class Month:
    start: datetime
    end: datetime  # exclusive


def month_of(moment: datetime, tz) -> Month:
    """The calendar month holding `moment` in time zone `tz`, from local midnight to local midnight."""
    first = timezone.localdate(moment, tz).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Month(
        start=timezone.make_aware(datetime.combine(first, datetime.min.time()), tz),
        end=timezone.make_aware(datetime.combine(following, datetime.min.time()), tz),
    )


def this_month(moment: datetime) -> Month:
    """The calendar month holding `moment`, in the site's time zone (/metrics, the status page)."""
    return month_of(moment, timezone.get_default_timezone())


@dataclass
class IncidentBurn:
    share: float  # of the service's budget for the month the impact started in
    objective: Decimal
    month: datetime  # that month's first instant, in the current time zone

    @property
    def percent(self) -> int:
        return round(100 * self.share)

    @property
    def objective_text(self) -> str:
        return percent_text(self.objective)


def incident_burn(incident: Incident, moment: datetime) -> IncidentBurn | None:
    """How much of its service's monthly error budget one incident burned (its whole impact window,
    weighted by severity), when that is at least settings.ERROR_BUDGET_NOTE_SHARE; else None.
    No query: the incident's service must be loaded with it (Incident.objects.for_list())."""
    objective = incident.service.availability_objective
    factor = settings.ERROR_BUDGET_FACTORS.get(incident.severity, 0.0)
    if objective is None or not factor:
        return None
    start = incident.impact_started_at or incident.occurred_at
    end = incident.impact_ended_at or incident.mitigated_at or incident.resolved_at or moment
    if end <= start:
        return None
    month = month_of(start, timezone.get_current_timezone())
    share = (end - start) * factor / allowed(month, objective)
    if share < settings.ERROR_BUDGET_NOTE_SHARE:
        return None
    return IncidentBurn(share, objective, month.start)
