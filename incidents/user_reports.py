"""Problems reported by users on the public status page, and the triage queue they wait in.

A user report never opens an incident by itself. Responders see the new ones on the dashboard
("3 user reports in 10 min for Checkout") and on /incidents/user-reports/, where they open an
incident from one or several, attach them to an open incident, or dismiss them. A reporter who
left an email address and confirmed it by the emailed link then follows the incident their
report joined, as an outside address (Subscription with an email): they hear its public updates
and its resolution while it is shown on the status page, nothing else. What a user typed is
shown to responders only, never publicly.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q
from django.utils.timezone import now

from incidents import roles, workflow
from incidents.models import Incident, Service, Subscription, TimelineEntry, UserReport

# The dashboard counts the new reports of this many minutes, per service.
BURST_MINUTES = 10
# The triage page lists at most this many new reports (newest first).
QUEUE_SHOWN = 100
# Report texts quoted in the timeline entry that attaches them, at most.
QUOTED = 10


def submit(*, what: str, since: str = "", service: Service | None = None, email: str = "") -> UserReport:
    return UserReport.objects.create(what=what, since=since, service=service, email=email.strip().lower())


def _follow(report: UserReport) -> None:
    """A confirmed address follows the incident its report joined (public updates only)."""
    if not (report.email and report.email_confirmed_at and report.incident_id):
        return
    try:
        with transaction.atomic():
            Subscription.objects.get_or_create(email=report.email, incident_id=report.incident_id)
    except IntegrityError:
        pass  # followed already, by a report confirmed a moment ago


@transaction.atomic
def confirm_email(report: UserReport) -> UserReport:
    if report.email_confirmed_at is None:
        report.email_confirmed_at = now()
        report.save(update_fields=["email_confirmed_at"])
    _follow(report)
    return report


def _check(by) -> None:
    if by is not None and not by.has_perm(roles.RESPOND_INCIDENT):
        raise PermissionDenied


def _pending(ids: list[int]) -> list[UserReport]:
    reports = list(UserReport.objects.select_for_update().filter(pk__in=ids, state=UserReport.State.NEW))
    if not reports:
        raise workflow.InvalidTransition("Choose at least one new user report.")
    return sorted(reports, key=lambda r: (r.created_at, r.pk))


def _quote(reports: list[UserReport]) -> str:
    lines = []
    for report in reports[:QUOTED]:
        since = f" (since: {report.since})" if report.since else ""
        lines.append("> " + " ".join(report.what.split())[:300] + since)
    more = f"\n\n… and {len(reports) - QUOTED} more." if len(reports) > QUOTED else ""
    return "\n>\n".join(lines) + more


@transaction.atomic
def attach(ids: list[int], incident: Incident, *, by) -> int:
    """Attach new reports to `incident` (one `user_report` entry quoting them); their confirmed
    addresses follow it. Returns how many were attached."""
    _check(by)
    reports = _pending(ids)
    incident = Incident.objects.select_for_update(of=("self",)).select_related("service", "lead").get(pk=incident.pk)
    if incident.status == Incident.Status.CLOSED:
        raise workflow.InvalidTransition(f"{incident.ref} is closed: choose an open incident.")
    moment = now()
    UserReport.objects.filter(pk__in=[r.pk for r in reports]).update(
        state=UserReport.State.ATTACHED, incident=incident, handled_by=by, handled_at=moment
    )
    followers = 0
    for report in reports:
        report.incident = incident
        if report.email and report.email_confirmed_at:
            _follow(report)
            followers += 1
    workflow.record(
        incident,
        by=by,
        kind=TimelineEntry.Kind.USER_REPORT,
        text=f"{len(reports)} user report(s) from the status page:\n\n{_quote(reports)}",
        reports=[r.pk for r in reports],
        followers=followers,
    )
    return len(reports)


@transaction.atomic
def open_incident(ids: list[int], *, by, service: Service, severity: str) -> Incident:
    """Open an incident from new reports (its title from the first) and attach them to it."""
    _check(by)
    reports = _pending(ids)
    first = " ".join(reports[0].what.split())
    incident = workflow.report(
        by=by,
        title=(first[:150] + ("…" if len(first) > 150 else "")) or "Reported by users",
        description=f"Opened from {len(reports)} user report(s) on the status page (quoted on the timeline).",
        impact=f"{len(reports)} user(s) reported it.",
        occurred_at=min(r.created_at for r in reports),
        severity=severity,
        service=service,
    )
    attach([r.pk for r in reports], incident, by=by)
    return incident


@transaction.atomic
def dismiss(ids: list[int], *, by) -> int:
    _check(by)
    reports = _pending(ids)
    return UserReport.objects.filter(pk__in=[r.pk for r in reports]).update(
        state=UserReport.State.DISMISSED, handled_by=by, handled_at=now()
    )


def waiting() -> list[dict]:
    """The new (untriaged) reports per service (None: no service given), the busiest of the last
    BURST_MINUTES first: [{"service": name or None, "count": n, "recent": n in the last
    BURST_MINUTES, "first": when}]. One query."""
    since = now() - timedelta(minutes=BURST_MINUTES)
    rows = (
        UserReport.objects.filter(state=UserReport.State.NEW)
        .values("service__name")
        .annotate(count=Count("pk"), recent=Count("pk", filter=Q(created_at__gte=since)), first=Min("created_at"))
        .order_by("-recent", "-count", "service__name")
    )
    return [
        {"service": row["service__name"], "count": row["count"], "recent": row["recent"], "first": row["first"]}
        for row in rows
    ]
