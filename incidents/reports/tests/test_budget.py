"""Error budgets: a service's availability objective, burned by its incidents' impact windows
weighted by severity; the window corrected on the incident page with a reason (on the timeline)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from incidents import workflow
from incidents.models import Service, TimelineEntry
from incidents.reports import queries
from incidents.reports.tests.data import NOW, ZONE, at, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(users, settings):
    settings.TIME_ZONE = ZONE
    with time_machine.travel(NOW, tick=False):
        found = build(users)
        Service.objects.filter(name="Checkout").update(availability_objective=Decimal("99.9"))
        yield found


def month(key: date) -> queries.Period:
    with timezone.override(ZONE):
        return next(m for m in queries.months(date(2026, 4, 15), timezone.get_current_timezone()) if m.key == key)


def test_january_burn_weighted_by_severity(world, users):
    budget = queries.budgets(users["responder"], month(date(2026, 1, 1)), NOW)[world["checkout"].pk]
    # 31 days = 44,640 minutes; 0.1 % of it = 44.64 minutes.
    assert budget.allowed == timedelta(minutes=44.64)
    # A (critical) 60 min inside January x 1.0 + B (high) 60 x 0.5 + C (medium) 120 x 0.1 = 102 minutes.
    assert budget.burned == timedelta(minutes=102)
    assert budget.left_share == pytest.approx(1 - 102 / 44.64)
    assert budget.availability == pytest.approx(100 * (1 - 102 / 44640))
    # Services without an objective have no budget.
    assert world["search"].pk not in queries.budgets(users["responder"], month(date(2026, 1, 1)), NOW)


def test_this_month_so_far_and_the_page(world, users, clients):
    budget = queries.budgets(users["viewer"], month(date(2026, 4, 1)), NOW)[world["checkout"].pk]
    # F (medium): 60 minutes x 0.1 = 6 of April's 43.2; April so far: 23:00 UTC 31 March -> NOW.
    assert budget.burned == timedelta(minutes=6)
    assert budget.left_percent == 86.1
    assert budget.elapsed == timedelta(days=14, hours=13)
    assert budget.availability == pytest.approx(100 * (1 - 6 / (14 * 1440 + 13 * 60)))
    with time_machine.travel(NOW, tick=False):
        page = clients["viewer"].get("/reports/").content.decode()
        assert "86.1 %" in page and "no objective" in page
        service = clients["viewer"].get("/services/checkout/").content.decode()
        assert "Availability this month" in service and "99.971 %" in service
        assert "Availability this month" not in clients["viewer"].get("/services/search/").content.decode()


def test_restricted_incidents_burn_only_for_those_allowed(world, users):
    march = month(date(2026, 3, 1))
    # G: critical, restricted, 30 minutes.
    assert queries.budgets(users["manager"], march, NOW)[world["checkout"].pk].burned == timedelta(minutes=30)
    assert queries.budgets(users["responder"], march, NOW)[world["checkout"].pk].burned == timedelta(0)


def test_the_impact_window_is_corrected_with_a_reason(world, users):
    b = world["B"]
    with time_machine.travel(NOW, tick=False):
        workflow.adjust_impact(
            b, by=users["responder"], started_at=at(1, 10, 10), ended_at=at(1, 10, 10, 30), reason="Only EU users."
        )
    entry = TimelineEntry.objects.filter(incident=b).latest("pk")
    assert entry.kind == TimelineEntry.Kind.IMPACT and entry.text == "Only EU users."
    assert entry.data["to"] == [at(1, 10, 10).isoformat(), at(1, 10, 10, 30).isoformat()]
    budget = queries.budgets(users["responder"], month(date(2026, 1, 1)), NOW)[world["checkout"].pk]
    assert budget.burned == timedelta(minutes=60 + 15 + 12)
    with pytest.raises(workflow.InvalidTransition, match="reason|why"):
        workflow.adjust_impact(b, by=users["responder"], started_at=None, ended_at=None, reason=" ")
    with pytest.raises(workflow.InvalidTransition, match="end after it starts"):
        workflow.adjust_impact(b, by=users["responder"], started_at=at(1, 10, 13), ended_at=None, reason="x")
    with pytest.raises(PermissionDenied):
        workflow.adjust_impact(b, by=users["viewer"], started_at=None, ended_at=None, reason="x")


def test_the_incident_page_form(world, clients):
    c = world["C"]
    url = f"/incidents/{c.ref}/impact/"
    page = clients["responder"].get(f"/incidents/{c.ref}/").content.decode()
    assert "Impact window…" in page and "Users affected from 20 Jan 2026 08:30" in page
    bad = clients["responder"].post(
        url, {"started_at": "2026-01-20T10:00", "ended_at": "2026-01-20T09:00", "reason": "x"}
    )
    assert bad.status_code == 422 and "The impact must end after it starts." in bad.content.decode()
    missing = clients["responder"].post(url, {"started_at": "soon"})
    assert missing.status_code == 422
    errors = missing.context["impact_form"].errors
    assert errors["started_at"] == ["Enter a date and time like 2026-11-27 14:05."] and "reason" in errors
    done = clients["responder"].post(url, {"started_at": "2026-01-20T09:00", "reason": "Started later."})
    assert done.status_code == 302
    c.refresh_from_db()
    assert c.impact_started_at == at(1, 20, 9) and c.impact_ended_at is None
    assert "(corrected)" in clients["responder"].get(f"/incidents/{c.ref}/").content.decode()
    assert clients["viewer"].post(url, {"reason": "x"}).status_code == 403


def test_an_incident_that_burns_much_of_a_budget_says_so(world, users, clients):
    from reviews import lifecycle

    a = world["A"]
    # A: critical, 120 minutes against January's 44.64: 269 %.
    page = clients["viewer"].get(f"/incidents/{a.ref}/").content.decode()
    assert "This incident alone burned 269 % of Checkout's error budget for January 2026" in page
    assert "(objective 99.9 % available)" in page
    lifecycle.start(a, by=users["responder"])
    review = clients["viewer"].get(f"/reviews/{a.ref}/").content.decode()
    assert "burned 269 %" in review
    # H: low, factor 0; E: Search has no objective.
    for quiet in (world["H"], world["E"]):
        assert "alone burned" not in clients["viewer"].get(f"/incidents/{quiet.ref}/").content.decode()
    # C: medium, 120 minutes x 0.1 = 12 of 44.64 (27 %); below a higher threshold it says nothing.
    assert "burned 27 %" in clients["viewer"].get(f"/incidents/{world['C'].ref}/").content.decode()


def test_the_note_threshold_is_a_setting(world, clients, settings):
    settings.ERROR_BUDGET_NOTE_SHARE = 0.5
    assert "alone burned" not in clients["viewer"].get(f"/incidents/{world['C'].ref}/").content.decode()


def test_the_status_page_shows_a_public_services_availability_counting_no_restricted_incident(world, users, client):
    """Percentage only, public services only, and a restricted incident never moves it (the public
    must not learn of one from a number)."""
    from django.core.cache import cache

    from incidents import budget as budgets

    Service.objects.filter(name="Checkout").update(is_public=True)
    Service.objects.filter(name="Search").update(is_public=True)
    restricted = world["G"]
    assert restricted.restricted
    type(restricted).objects.filter(pk=restricted.pk).update(
        impact_started_at=NOW - timedelta(hours=3), impact_ended_at=NOW - timedelta(hours=2)
    )
    with time_machine.travel(NOW, tick=False):
        april = budgets.this_month(NOW)
        public = budgets.budgets(None, april, NOW)[world["checkout"].pk].availability
        everything = budgets.budgets(users["manager"], april, NOW)[world["checkout"].pk].availability
        assert everything < public  # the restricted hour would show
        cache.clear()
        page = client.get("/status/").content.decode()
    # F (medium) 60 min x 0.1 over April so far (14 days 13 hours).
    assert public == pytest.approx(100 * (1 - 6 / (14 * 1440 + 13 * 60)))
    assert "99.97 % available this month" in page
    assert page.count("available this month") == 1  # Search has no objective


def test_the_burn_of_every_month_in_two_queries(world, users, django_assert_max_num_queries):
    """/reports/ shows each service's burn over the last twelve months (May 2025 - April 2026 in
    London), all of them in two queries, need-to-know included. By hand, in weighted minutes:
    January A 60 x 1.0 + B 60 x 0.5 + C 120 x 0.1 = 102; February A's other hour 60 (H is Low: 0);
    March only G, restricted (30, managers only); April F 60 x 0.1 = 6."""
    from incidents import budget as budgets

    with timezone.override(ZONE):
        periods = queries.months(date(2026, 4, 15), timezone.get_current_timezone())
    expected = {"responder": [0] * 8 + [102, 60, 0, 6], "manager": [0] * 8 + [102, 60, 30, 6]}
    for who, burned in expected.items():
        with django_assert_max_num_queries(2):
            burn = budgets.burn_by_month(users[who], periods, NOW)[world["checkout"].pk]
        assert [b.burned for b in burn] == [timedelta(minutes=m) for m in burned]
    january = periods.index(month(date(2026, 1, 1)))
    assert budgets.burn_by_month(users["responder"], periods, NOW)[world["checkout"].pk][january].burned_percent == (
        round(100 * 102 / 44.64, 1)
    )
    assert world["search"].pk not in budgets.burn_by_month(users["manager"], periods, NOW)
    # London's March is an hour short (the clocks went forward on the 29th): 743 hours, 0.1 % of them.
    march = periods.index(month(date(2026, 3, 1)))
    assert (
        budgets.burn_by_month(users["manager"], periods, NOW)[world["checkout"].pk][march].allowed
        == timedelta(hours=743) * 0.001
    )


def test_the_reports_page_shows_the_burn_per_month(world, clients):
    with time_machine.travel(NOW, tick=False):
        page = clients["responder"].get("/reports/").content.decode()
    burn = page.split('id="burn-heading"')[1].split("</table>")[0]
    assert "Checkout" in burn and "Search" not in burn  # Search has no objective
    assert f"{round(100 * 102 / 44.64, 1)} %" in burn  # January
