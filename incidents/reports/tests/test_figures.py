"""The report's figures against hand-computed expectations (incidents/reports/tests/data.py says
what each incident is), on whichever database the suite runs (PostgreSQL or SQLite)."""

from datetime import UTC, date, timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents.models import Incident
from incidents.reports import queries
from incidents.reports.tests.data import NOW, ZONE, at, build

pytestmark = pytest.mark.django_db


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


@pytest.fixture
def world(users, settings):
    settings.TIME_ZONE = ZONE
    with time_machine.travel(NOW, tick=False):
        yield build(users)


@pytest.fixture
def london():
    with timezone.override(ZONE):
        yield timezone.get_current_timezone()


def trend(user, kind, tz):
    periods = queries.months(date(2026, 4, 15), tz) if kind == "month" else queries.weeks(date(2026, 4, 15), tz)
    rows = queries.trend(Incident.objects.visible_to(user), periods, kind, tz)
    return {row.period.key: row for row in rows}


def test_periods_are_local_months_and_iso_weeks(london):
    months = queries.months(date(2026, 4, 15), london)
    assert [m.label for m in months][:2] == ["May 2025", "Jun 2025"] and months[-1].label == "Apr 2026"
    # April starts at midnight BST, which is 23:00 UTC on 31 March.
    assert months[-1].start == at(3, 31, 23)
    weeks = queries.weeks(date(2026, 4, 15), london)
    assert weeks[0].key == date(2026, 1, 26) and weeks[-1].key == date(2026, 4, 13)
    assert weeks[-1].label == "2026-W16"
    # The week of the clock change is an hour short.
    dst = next(w for w in weeks if w.key == date(2026, 3, 23))
    assert dst.end.astimezone(UTC) - dst.start.astimezone(UTC) == timedelta(days=7, hours=-1)


def test_monthly_figures(world, users, london):
    rows = trend(users["responder"], "month", london)
    assert [(key.month, row.count) for key, row in rows.items() if row.count] == [(1, 3), (2, 2), (3, 1), (4, 1)]
    january = rows[date(2026, 1, 1)]
    assert january.means["ack_reported"] == minutes(18)
    assert january.medians["ack_reported"] == minutes(20)
    assert january.means["ack_occurred"] == minutes(94 / 3)
    assert january.medians["ack_occurred"] == minutes(20)
    assert january.means["mitigate_reported"] == minutes(260 / 3)
    assert january.medians["mitigate_reported"] == minutes(90)
    assert january.means["mitigate_occurred"] == minutes(100)
    assert january.medians["mitigate_occurred"] == minutes(120)
    # Two of the three are resolved: the median of an even count is the mean of the middle two.
    assert january.means["resolve_reported"] == january.medians["resolve_reported"] == minutes(150)
    assert january.means["resolve_occurred"] == january.medians["resolve_occurred"] == minutes(155)
    # A (critical, 4 min) and C (medium, 30 min) in time, B (high, 20 min against 15) late.
    assert (january.in_target, january.with_target) == (2, 3)


def test_a_reopened_incident_counts_once_with_its_last_resolution(world, users, london):
    february = trend(users["responder"], "month", london)[date(2026, 2, 1)]
    assert february.count == 2
    # D: reported 10 Feb 10:00, resolved 11:00, reopened, resolved again 11 Feb 12:00 (26 h); H: 30 min.
    assert world["D"].resolved_at == at(2, 11, 12)
    assert february.means["resolve_reported"] == february.medians["resolve_reported"] == minutes((1560 + 30) / 2)
    assert february.medians["mitigate_reported"] == minutes(20)
    assert (february.in_target, february.with_target) == (2, 2)


def test_the_clock_change_and_the_local_month_boundary(world, users, london):
    months = trend(users["responder"], "month", london)
    weeks = trend(users["responder"], "week", london)
    # E: reported 00:30 GMT, acknowledged 02:30 BST on 29 March: 60 minutes of real time.
    march = months[date(2026, 3, 1)]
    assert march.count == 1 and march.means["ack_reported"] == minutes(60)
    assert weeks[date(2026, 3, 23)].count == 1
    # F: 23:30 UTC on 31 March is 1 April in London, so April's (and the week of 30 March).
    assert months[date(2026, 4, 1)].count == 1
    assert weeks[date(2026, 3, 30)].count == 1
    assert [(k, r.count) for k, r in weeks.items() if r.count] == [
        (date(2026, 1, 26), 1),  # A, 31 January
        (date(2026, 2, 2), 1),  # H
        (date(2026, 2, 9), 1),  # D
        (date(2026, 3, 23), 1),  # E
        (date(2026, 3, 30), 1),  # F
    ]


def test_in_utc_the_same_incident_is_march(world, users):
    with timezone.override("UTC"):
        tz = timezone.get_current_timezone()
        months = trend(users["responder"], "month", tz)
    assert months[date(2026, 3, 1)].count == 2 and months[date(2026, 4, 1)].count == 0


def test_restricted_incidents_count_only_for_those_allowed(world, users, london):
    manager_march = trend(users["manager"], "month", london)[date(2026, 3, 1)]
    assert manager_march.count == 2  # E and the restricted G
    assert manager_march.medians["ack_reported"] == minutes((60 + 3) / 2)
    start, end = at(3, 31, 23, year=2026) - timedelta(days=365), at(4, 30, 23)
    filters = queries.Filters()
    assert queries.some_hidden(users["responder"], filters, start, end)
    assert not queries.some_hidden(users["manager"], filters, start, end)


def test_impact_per_service_and_the_month_boundary(world, users, london):
    filters = queries.Filters()
    months = {m.key: m for m in queries.months(date(2026, 4, 15), london)}
    january, february = months[date(2026, 1, 1)], months[date(2026, 2, 1)]
    checkout, search = world["checkout"].pk, world["search"].pk
    responder = users["responder"]
    # A's impact (23:00 31 Jan -> 01:00 1 Feb) is split between the two months.
    jan = queries.impact_by_service(responder, filters, january.start, january.end, NOW)
    assert jan[checkout] == minutes(60 + 60 + 120)  # A's hour, B, C
    feb = queries.impact_by_service(responder, filters, february.start, february.end, NOW)
    assert feb[checkout] == minutes(60 + 10)  # A's other hour, H
    assert feb[search] == minutes(40)  # D: start to first mitigation
    year = list(months.values())
    rows = {r.service.name: r for r in queries.per_service(responder, filters, year[0].start, year[-1].end, NOW)}
    assert (rows["Checkout"].count, rows["Checkout"].impact_minutes) == (5, 370)
    assert (rows["Search"].count, rows["Search"].impact_minutes) == (2, 120)
    assert rows["Checkout"].repeats == [("Payment errors", 1)]
    managers = {
        r.service.name: r for r in queries.per_service(users["manager"], filters, year[0].start, year[-1].end, NOW)
    }
    assert (managers["Checkout"].count, managers["Checkout"].impact_minutes) == (6, 400)


def test_filters_narrow_every_figure(world, users, london):
    periods = queries.months(date(2026, 4, 15), london)
    only_high = queries.Filters(severity="high")
    visible = only_high.apply(Incident.objects.visible_to(users["responder"]))
    rows = {r.period.key: r for r in queries.trend(visible, periods, "month", london)}
    assert rows[date(2026, 1, 1)].count == 1 and rows[date(2026, 2, 1)].count == 1
    search = queries.Filters(service=world["search"])
    rows = queries.per_service(users["responder"], search, periods[0].start, periods[-1].end, NOW)
    assert [(r.service.name, r.count) for r in rows] == [("Search", 2)]


def test_an_alert_that_keeps_opening_incidents_is_a_repeat_offender(users):
    """Titles change ("+2 more", other instances); the alert name does not. Two incidents of the
    same service opened by HighErrorRate within 30 days: one repeat. The same alert 40 days
    earlier, DiskFull once, and HighErrorRate on another service: none."""
    from incidents.models import AlertGroup, Integration
    from incidents.tests.factories import ServiceFactory, make_incident

    checkout, search = ServiceFactory(name="Checkout"), ServiceFactory(name="Search")
    integration = Integration.objects.create(name="prometheus", kind=Integration.Kind.ALERTMANAGER)
    start = timezone.now() - timedelta(days=100)

    def opened(days: int, alertname: str, service, *, in_common: bool = False):
        incident = make_incident(by=users["reporter"], service=service, title=f"Alert {days}")
        Incident.objects.filter(pk=incident.pk).update(reported_at=start + timedelta(days=days))
        labels = {"alertname": alertname, "service": service.slug}
        AlertGroup.objects.create(
            integration=integration,
            group_key=f"{{}}:{days}",
            incident=incident,
            # Grouped by service only: the name is in the labels every alert had in common.
            group_labels={"service": service.slug} if in_common else labels,
            last_payload={"commonLabels": labels},
        )

    opened(0, "HighErrorRate", checkout)
    opened(40, "HighErrorRate", checkout, in_common=True)  # 40 days after: not a repeat
    opened(50, "HighErrorRate", checkout)  # 10 days after the previous: a repeat
    opened(55, "DiskFull", checkout)
    opened(60, "HighErrorRate", search)  # another service
    make_incident(by=users["reporter"], service=checkout, title="Reported by hand")

    rows = {
        r.service.name: r
        for r in queries.per_service(
            users["responder"], queries.Filters(), start, timezone.now() + timedelta(days=1), timezone.now()
        )
    }
    assert rows["Checkout"].repeat_alerts == [("HighErrorRate", 1)]
    assert rows["Search"].repeat_alerts == []
    assert rows["Checkout"].repeats == []  # every title differs
