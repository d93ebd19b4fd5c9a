"""What the public status page may know: a projection of public incidents onto plain values.

The status page, its incident pages and its Atom feed read incidents only through the
functions here. They load only the columns that are public (reference, title, severity,
status, times, service name and PUBLIC status updates) and hand templates frozen
dataclasses, never model instances, so a template cannot reach `description`, `impact`,
`logs`, notes, internal updates or anybody's name, not even by a typo.

Public means: `Incident.public` is set *and* its service has `is_public` (IncidentQuerySet.public).

The rules the page shows its readers (templates/status/index.html repeats them):

* A service's state comes from its open public incidents (reported, acknowledged, mitigated):
  an open Critical one that is not yet mitigated makes it **Major outage**; any other open
  public incident makes it **Degraded**; none makes it **Operational**.
* Beacon's status is shown in the words status pages use: reported and acknowledged are
  **Investigating**, mitigated (users no longer hurt, the cause may remain) is **Monitoring**,
  resolved and closed are **Resolved**. Beacon records no "cause identified" moment, so the
  page never claims **Identified**; responders say so in a public update.
* Severity is shown as the impact on users: Critical → Major impact, High → Significant
  impact, Medium → Moderate impact, Low → Minor impact (the severity definitions of incidents/models/core.py).
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import Count, Min, Prefetch, Q
from django.utils.timezone import now

from incidents import budget, panels
from incidents.models import OPEN_STATUSES, Incident, MaintenanceWindow, Service, Severity, Status, StatusUpdate

# Bounds: every list on the public pages is cut off, so a bad day cannot make them huge.
ACTIVE_LIMIT = 50  # active incidents on /status/ (the total is still counted)
UPDATES_PER_ACTIVE = 3  # latest public updates shown per active incident on /status/
RESOLVED_DAYS = 14
RESOLVED_LIMIT = 50
HISTORY_LIMIT = 200  # public updates on one incident's page
FEED_LIMIT = 50
MAINTENANCE_LIMIT = 20  # scheduled and ongoing maintenance windows on /status/

# The only incident columns the public pages ever load.
PUBLIC_FIELDS = [
    "pk",
    "title",
    "severity",
    "status",
    "occurred_at",
    "reported_at",
    "mitigated_at",
    "resolved_at",
    "service__name",
]
UPDATE_FIELDS = ["pk", "incident_id", "message", "phase", "created_at"]


class ServiceState(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    MAJOR_OUTAGE = "major_outage"

    @property
    def label(self) -> str:
        return {"operational": "Operational", "degraded": "Degraded", "major_outage": "Major outage"}[self.value]

    @property
    def rank(self) -> int:
        """Higher is worse, for the page's overall banner."""
        return list(ServiceState).index(self)


PUBLIC_STATUS = {
    Status.REPORTED: "Investigating",
    Status.ACKNOWLEDGED: "Investigating",
    Status.MITIGATED: "Monitoring",
    Status.RESOLVED: "Resolved",
    Status.CLOSED: "Resolved",
}

PUBLIC_IMPACT = {
    Severity.CRITICAL: "Major impact",
    Severity.HIGH: "Significant impact",
    Severity.MEDIUM: "Moderate impact",
    Severity.LOW: "Minor impact",
}

# Wording of the rules above, shown on the page itself so readers know what a state means.
STATE_RULES = [
    (ServiceState.MAJOR_OUTAGE, "an open incident with major impact that is not yet mitigated"),
    (ServiceState.DEGRADED, "any other open incident"),
    (ServiceState.OPERATIONAL, "no open incident"),
]
STATUS_RULES = [
    ("Investigating", "we know about the problem and are working on it"),
    ("Monitoring", "users should no longer be affected; we are watching while the cause is fixed"),
    ("Resolved", "the problem is over and users are no longer affected"),
]


@dataclass(frozen=True)
class PublicUpdate:
    pk: int
    message: str
    created_at: datetime
    phase: str = ""  # the update template it started from: Investigating, Identified…


@dataclass(frozen=True)
class PublicIncident:
    ref: str
    title: str
    service: str
    severity: str  # the raw value, for the badge's colour
    impact: str
    status: str  # Investigating / Monitoring / Resolved
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...] = ()
    more_updates: bool = False  # older public updates exist beyond those in `updates`
    postmortem: str = ""  # a published public post-incident summary, plain text
    postmortem_published_at: datetime | None = None

    @property
    def is_resolved(self) -> bool:
        return self.status == "Resolved"

    @property
    def duration(self) -> timedelta | None:
        return self.resolved_at - self.started_at if self.resolved_at else None


@dataclass(frozen=True)
class PublicService:
    name: str
    description: str
    state: ServiceState
    open_incidents: int
    # Per cent of this month users were not hurt, for a service with an availability objective
    # (incidents/budget.py); only unrestricted incidents count here. None: no objective.
    availability: float | None = None


@dataclass(frozen=True)
class StatusOverview:
    services: list[PublicService]
    state: ServiceState  # the worst of the services'
    active: list[PublicIncident]
    active_total: int
    resolved: list[PublicIncident]
    resolved_days: int
    resolved_truncated: bool


def public_incidents():
    """Public incidents on public services, with only the public columns loaded."""
    return Incident.objects.public().select_related("service").only(*PUBLIC_FIELDS)


def public_updates():
    return StatusUpdate.objects.filter(public=True).only(*UPDATE_FIELDS)


def service_state(*, open_count: int, worst_unmitigated_rank: int | None) -> ServiceState:
    """The rule in this module's docstring, from a service's open public incidents."""
    if worst_unmitigated_rank is not None and worst_unmitigated_rank <= Severity.CRITICAL.rank:
        return ServiceState.MAJOR_OUTAGE
    if open_count:
        return ServiceState.DEGRADED
    return ServiceState.OPERATIONAL


def project(incident: Incident, updates=(), *, more_updates: bool = False) -> PublicIncident:
    """The public face of one incident loaded by `public_incidents()`."""
    return PublicIncident(
        ref=incident.ref,
        title=incident.title,
        service=incident.service.name,
        severity=incident.severity,
        impact=PUBLIC_IMPACT[Severity(incident.severity)],
        status=PUBLIC_STATUS[Status(incident.status)],
        started_at=incident.occurred_at,
        resolved_at=incident.resolved_at,
        updates=tuple(
            PublicUpdate(pk=u.pk, message=u.message, created_at=u.created_at, phase=u.phase) for u in updates
        ),
        more_updates=more_updates,
    )


def overview() -> StatusOverview:
    """Everything /status/ shows, in six queries whatever the amount of data."""
    open_public = Q(
        incidents__public=True,
        incidents__status__in=OPEN_STATUSES,
    )
    unmitigated = open_public & ~Q(incidents__status=Status.MITIGATED)
    services = Service.objects.filter(is_public=True).annotate(
        open_count=Count("incidents", filter=open_public),
        worst_unmitigated_rank=Min("incidents__severity_rank", filter=unmitigated),
    )
    moment = now()
    # As anonymous: a restricted incident never moves the public percentage.
    monthly = budget.budgets(None, budget.this_month(moment), moment)
    public_services = [
        PublicService(
            name=s.name,
            description=s.description,
            state=service_state(open_count=s.open_count, worst_unmitigated_rank=s.worst_unmitigated_rank),
            open_incidents=s.open_count,
            availability=monthly[s.pk].availability if s.pk in monthly else None,
        )
        for s in services.only("name", "description").order_by("name")
    ]

    latest_updates = Prefetch(
        "updates",
        # A sliced prefetch: the newest few per incident, in one query (window function).
        queryset=public_updates().order_by("-created_at", "-pk")[:UPDATES_PER_ACTIVE],
        to_attr="latest_public_updates",
    )
    active = (
        public_incidents()
        .open()
        .order_by("severity_rank", "reported_at", "pk")
        .prefetch_related(latest_updates)[:ACTIVE_LIMIT]
    )

    since = now() - timedelta(days=RESOLVED_DAYS)
    resolved = list(
        public_incidents()
        .filter(status__in=[Status.RESOLVED, Status.CLOSED], resolved_at__gte=since)
        .order_by("-resolved_at", "-pk")[: RESOLVED_LIMIT + 1]
    )

    return StatusOverview(
        services=public_services,
        state=max((s.state for s in public_services), key=lambda s: s.rank, default=ServiceState.OPERATIONAL),
        active=[project(i, i.latest_public_updates) for i in active],
        active_total=sum(s.open_incidents for s in public_services),
        resolved=[project(i) for i in resolved[:RESOLVED_LIMIT]],
        resolved_days=RESOLVED_DAYS,
        resolved_truncated=len(resolved) > RESOLVED_LIMIT,
    )


def incident(ref: str) -> PublicIncident | None:
    """One public incident with its public updates, newest first; None when it is missing OR not public.

    The caller answers both the same way (404), so the page does not reveal which
    internal incidents exist.
    """
    found = public_incidents().by_ref(ref).first()
    if found is None:
        return None
    updates = list(public_updates().filter(incident=found).order_by("-created_at", "-pk")[: HISTORY_LIMIT + 1])
    public = project(found, updates[:HISTORY_LIMIT], more_updates=len(updates) > HISTORY_LIMIT)
    postmortem = panels.public_summary_for(found.pk)
    if postmortem is not None:
        public = replace(public, postmortem=postmortem.text, postmortem_published_at=postmortem.published_at)
    return public


def feed_updates():
    """The newest public updates of public incidents on public services, for the Atom feed."""
    return (
        public_updates()
        .filter(incident__public=True, incident__service__is_public=True, incident__restricted=False)
        .select_related("incident")
        .only(*UPDATE_FIELDS, "incident__title")
        .order_by("-created_at", "-pk")[:FEED_LIMIT]
    )


# --- maintenance ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicMaintenance:
    """A maintenance window as the public sees it: its public services' names, times and public
    description; never who planned it or the services that are not on the status page."""

    pk: int
    services: tuple[str, ...]
    start: datetime
    end: datetime
    description: str
    announced_at: datetime

    @property
    def anchor(self) -> str:
        return f"maintenance-{self.pk}"

    def ongoing(self, at: datetime) -> bool:
        return self.start <= at < self.end


def _public_windows(windows, order: tuple[str, ...], limit: int) -> list[PublicMaintenance]:
    public_services = Prefetch(
        "services", queryset=Service.objects.filter(is_public=True).order_by("name").only("name"), to_attr="shown"
    )
    # Windows with a public service; a subquery, so that the order and limit apply to windows, not joined rows.
    found = windows.filter(pk__in=MaintenanceWindow.objects.filter(services__is_public=True).values("pk"))
    found = found.only("pk", "start", "end", "description", "created_at").order_by(*order)
    found = found.prefetch_related(public_services)[:limit]
    return [
        PublicMaintenance(
            pk=w.pk,
            services=tuple(s.name for s in w.shown),
            start=w.start,
            end=w.end,
            description=w.description,
            announced_at=w.created_at,
        )
        for w in found
    ]


def maintenance(at: datetime | None = None) -> list[PublicMaintenance]:
    """Ongoing and scheduled maintenance of public services, soonest first (two queries). A window
    moves from scheduled to ongoing with the clock alone: the cache's expiry (cache.py) shows it."""
    at = at or now()
    return _public_windows(MaintenanceWindow.objects.current_or_upcoming(at), ("start", "pk"), MAINTENANCE_LIMIT)


def feed_maintenance() -> list[PublicMaintenance]:
    """The newest announced maintenance windows (not cancelled) of public services, for the Atom feed."""
    return _public_windows(MaintenanceWindow.objects.live(), ("-created_at", "-pk"), FEED_LIMIT)
