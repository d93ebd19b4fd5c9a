"""The on-call load report (/oncall/load/ and its CSV): pages, pages at night in each person's
time zone, hours on call from the rotations (DST, overrides), incidents led, need-to-know, bad
months, and a query count that does not grow with the history."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import make_user
from incidents import roles, workflow
from incidents.models import Profile, TimelineEntry
from incidents.oncall import load
from incidents.oncall.tests.data import make_override, make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

Kind = TimelineEntry.Kind
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
# Late in April 2026: March (the clocks went forward on 29 March in London) is over.
NOW = dt.datetime(2026, 4, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def set_zone(user, zone: str) -> None:
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.time_zone = zone
    profile.save()


def paged(incident, user, at: dt.datetime, kind=Kind.PAGE) -> TimelineEntry:
    """A page entry as incidents/oncall/paging.py writes it, at a chosen time."""
    return TimelineEntry.objects.create(
        incident=incident, kind=kind, created_at=at, text="Paged", data={"user_id": user.pk, "step": 0, "reason": "x"}
    )


def row_of(rows, user) -> load.Load:
    (row,) = [r for r in rows if r.user.pk == user.pk]
    return row


def march(zone=LONDON) -> load.Month:
    return load.Month(dt.date(2026, 3, 1), zone)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


# --- nights ------------------------------------------------------------------------------


def test_a_night_page_is_night_in_the_paged_persons_own_time_zone(responder, other_responder, manager, frozen):
    set_zone(responder, "America/New_York")  # Rob lives in New York; Ola has no zone: the site's, UTC
    incident = make_incident(by=responder)
    # 23:30 in New York (04:30 UTC the next day): night for Rob.
    paged(incident, responder, dt.datetime(2026, 3, 10, 23, 30, tzinfo=NEW_YORK))
    # 23:30 UTC is 19:30 in New York (summer time since 8 March): evening for Rob, night for Ola.
    paged(incident, responder, dt.datetime(2026, 3, 12, 23, 30, tzinfo=dt.UTC))
    paged(incident, other_responder, dt.datetime(2026, 3, 12, 23, 30, tzinfo=dt.UTC))
    # The edges: 22:00 is night, 07:00 is morning, 06:59 still night (ONCALL_NIGHT_START/END).
    paged(incident, other_responder, dt.datetime(2026, 3, 13, 22, 0, tzinfo=dt.UTC), kind=Kind.ESCALATION)
    paged(incident, other_responder, dt.datetime(2026, 3, 14, 7, 0, tzinfo=dt.UTC), kind=Kind.ESCALATION)
    paged(incident, other_responder, dt.datetime(2026, 3, 15, 6, 59, tzinfo=dt.UTC))

    rows = load.month_load(manager, march(dt.UTC))
    rob, ola = row_of(rows, responder), row_of(rows, other_responder)
    assert (rob.pages, rob.night_pages, str(rob.zone)) == (2, 1, "America/New_York")
    assert (ola.pages, ola.night_pages, str(ola.zone)) == (4, 3, "UTC")


def test_an_escalation_that_found_no_channel_is_not_a_page_received(responder, manager, frozen):
    incident = make_incident(by=responder)
    paged(incident, responder, dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC), kind=Kind.ESCALATION)
    # As paging.escalation_step writes it for someone page_plan cannot reach: recorded, not paged.
    TimelineEntry.objects.create(
        incident=incident,
        kind=Kind.ESCALATION,
        created_at=dt.datetime(2026, 3, 10, 12, 15, tzinfo=dt.UTC),
        text="Rob has no channel that works; not paged",
        data={"user_id": responder.pk, "step": 2, "unreachable": True},
    )
    assert row_of(load.month_load(manager, march(dt.UTC)), responder).pages == 1


def test_the_night_is_a_setting(settings, responder, manager, frozen):
    settings.ONCALL_NIGHT_START, settings.ONCALL_NIGHT_END = 0, 6
    incident = make_incident(by=responder)
    paged(incident, responder, dt.datetime(2026, 3, 10, 23, 30, tzinfo=dt.UTC))
    paged(incident, responder, dt.datetime(2026, 3, 11, 5, 59, tzinfo=dt.UTC))
    assert row_of(load.month_load(manager, march(dt.UTC)), responder).night_pages == 1
    assert load.night_label() == "00:00–05:59"


# --- hours on call -------------------------------------------------------------------------


def test_hours_on_call_across_the_change_to_summer_time(responder, manager, frozen):
    # Rob alone, daily handoffs at 09:00 London: March 2026 in London has 31 days less one hour.
    make_rotation("Primary", members=[responder], start_date=dt.date(2026, 1, 5))
    rows = load.month_load(manager, march(LONDON))
    assert row_of(rows, responder).on_call == dt.timedelta(hours=31 * 24 - 1)
    # Back to winter time in October: one hour more.
    october = load.Month(dt.date(2026, 10, 1), LONDON)
    with time_machine.travel(dt.datetime(2026, 11, 2, tzinfo=dt.UTC), tick=False):
        assert row_of(load.month_load(manager, october), responder).on_call == dt.timedelta(hours=31 * 24 + 1)


def test_the_shift_across_the_change_is_23_hours_for_whoever_has_it(responder, other_responder, manager, frozen):
    # Two people alternating daily from 1 March 09:00 London: Rob has the odd days, Ola the even
    # ones, so the shift of 28 March 09:00 GMT to 29 March 09:00 BST (the clocks went forward at
    # 01:00 GMT in between) is Ola's, and 23 hours long.
    make_rotation("Primary", members=[responder, other_responder], start_date=dt.date(2026, 3, 1))
    rows = load.month_load(manager, march(LONDON))
    rob, ola = row_of(rows, responder), row_of(rows, other_responder)
    assert rob.on_call + ola.on_call == dt.timedelta(hours=31 * 24 - 1 - 9)  # nobody before 1 March 09:00
    assert ola.on_call == dt.timedelta(hours=15 * 24 - 1)  # 2, 4, ... 30 March
    assert rob.on_call == dt.timedelta(hours=15 * 24 + 15)  # 1, 3, ... 29 March, and 31 March 09:00–24:00


def test_an_override_counts_for_the_person_covering(responder, other_responder, manager, frozen):
    rotation = make_rotation("Primary", members=[responder], start_date=dt.date(2026, 1, 5), time_zone="UTC")
    start = dt.datetime(2026, 3, 10, 18, 0, tzinfo=dt.UTC)
    make_override(rotation, other_responder, start, start + dt.timedelta(hours=30), covered_user=responder)
    rows = load.month_load(manager, march(dt.UTC))
    assert row_of(rows, other_responder).on_call == dt.timedelta(hours=30)
    assert row_of(rows, responder).on_call == dt.timedelta(hours=31 * 24 - 30)


def test_two_rotations_at_once_count_each_hour_once(responder, manager, frozen):
    make_rotation("Primary", members=[responder], time_zone="UTC")
    make_rotation("Secondary", members=[responder], time_zone="UTC", handoff_time=dt.time(17, 0))
    assert row_of(load.month_load(manager, march(dt.UTC)), responder).on_call == dt.timedelta(days=31)


def test_the_current_month_counts_hours_up_to_now(responder, manager, frozen):
    make_rotation("Primary", members=[responder], time_zone="UTC")
    april = load.Month(dt.date(2026, 4, 1), dt.UTC)
    assert row_of(load.month_load(manager, april), responder).on_call == dt.timedelta(days=19, hours=12)


def test_a_member_with_nothing_to_do_is_shown_with_zeros(responder, other_responder, manager, frozen):
    # Ola is second in a weekly rotation that began on 30 March: her first week is in April.
    make_rotation("Primary", members=[responder, other_responder], shift_kind="weekly", start_date=dt.date(2026, 3, 30))
    ola = row_of(load.month_load(manager, march(LONDON)), other_responder)
    assert (ola.pages, ola.night_pages, ola.on_call, ola.led) == (0, 0, dt.timedelta(0), 0)


# --- incidents led ---------------------------------------------------------------------------


def test_incidents_led_counts_each_incident_once_per_person_made_lead(
    responder, other_responder, manager, reporter, frozen
):
    with time_machine.travel(dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC), tick=False):
        first = make_incident(by=reporter)
        second = make_incident(by=reporter)
        workflow.set_lead(first, by=manager, lead=responder)
        workflow.set_lead(first, by=manager, lead=other_responder)
        workflow.set_lead(first, by=manager, lead=responder)  # back to Rob: still one incident
        workflow.set_lead(second, by=manager, lead=responder)
        workflow.set_lead(second, by=manager, lead=None)  # "nobody" leads: counted for nobody
    with time_machine.travel(dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.UTC), tick=False):
        workflow.set_lead(make_incident(by=reporter), by=manager, lead=responder)  # April's
    rows = load.month_load(manager, march(dt.UTC))
    assert row_of(rows, responder).led == 2
    assert row_of(rows, other_responder).led == 1


def test_an_assignment_by_the_on_call_schedule_is_a_page_and_a_lead(responder, manager, settings):
    # Through the real path: workflow.report -> paging.assign_on_call writes both entries.
    settings.ONCALL_ESCALATION_MINUTES = {}
    checkout = ServiceFactory(name="Checkout")
    make_rotation("Primary", members=[responder], services=[checkout], time_zone="UTC")
    with time_machine.travel(dt.datetime(2026, 3, 9, 2, 0, tzinfo=dt.UTC), tick=False):
        incident = make_incident(by=manager, service=checkout)
    assert incident.lead == responder
    with time_machine.travel(NOW, tick=False):
        rob = row_of(load.month_load(manager, march(dt.UTC)), responder)
    assert (rob.pages, rob.night_pages, rob.led) == (1, 1, 1)


# --- who is shown, need-to-know -----------------------------------------------------------------


def test_a_deactivated_persons_month_still_counts(responder, other_responder, manager, clients, frozen):
    make_rotation("Primary", members=[responder, other_responder], time_zone="UTC", start_date=dt.date(2026, 3, 1))
    incident = make_incident(by=manager)
    paged(incident, other_responder, dt.datetime(2026, 3, 3, 3, 0, tzinfo=dt.UTC))
    other_responder.is_active = False
    other_responder.save()
    # Someone deleted since: their pages name nobody any more, and are left out without an error.
    gone = make_user("gone", roles.RESPONDER)
    paged(incident, gone, dt.datetime(2026, 3, 4, 3, 0, tzinfo=dt.UTC))
    gone.delete()
    rows = load.month_load(manager, march(dt.UTC))
    ola = row_of(rows, other_responder)
    # Her pages happened; her shifts went to Rob, as paging does with a deactivated member.
    assert (ola.pages, ola.night_pages, ola.on_call) == (1, 1, dt.timedelta(0))
    assert row_of(rows, responder).on_call == dt.timedelta(hours=31 * 24 - 9)
    assert sorted(r.user.username for r in rows) == ["ola", "rob"]
    html = clients["manager"].get("/oncall/load/?month=2026-03").content.decode()
    assert 'data-user="ola"' in html and "deactivated" in html
    (line,) = [r for r in csv_rows(clients["manager"].get("/oncall/load.csv?month=2026-03")) if r["username"] == "ola"]
    assert (line["active"], line["pages"], line["night_pages"], line["hours_on_call"]) == ("no", "1", "1", "0.00")


def test_restricted_incidents_count_only_for_those_who_may_see_them_and_never_show(
    responder, other_responder, manager, reporter, clients, frozen
):
    secret = make_incident(by=reporter, title="Payroll export leaked", restricted=True)
    paged(secret, other_responder, dt.datetime(2026, 3, 3, 3, 0, tzinfo=dt.UTC))
    with time_machine.travel(dt.datetime(2026, 3, 3, 3, 5, tzinfo=dt.UTC), tick=False):
        workflow.set_lead(secret, by=manager, lead=other_responder)
    # Managers see every incident: the pages (the one above, and the one that tells Ola she is
    # made lead: paging.restart_on_reassign) and the lead count.
    for_manager = clients["manager"].get("/oncall/load/?month=2026-03")
    ola = row_of(for_manager.context["rows"], other_responder)
    assert (ola.pages, ola.led) == (2, 1)
    # Rob may not see it: neither counts for him, and he is told that some may be left out.
    for_rob = clients["responder"].get("/oncall/load/?month=2026-03")
    assert not [r for r in for_rob.context["rows"] if r.user.pk == other_responder.pk]
    assert "restricted incidents you may not see are not counted" in for_rob.content.decode()
    for response in (for_manager, for_rob, clients["manager"].get("/oncall/load.csv?month=2026-03")):
        body = response.content.decode()
        assert "Payroll" not in body and secret.ref not in body


# --- the page and the CSV --------------------------------------------------------------------------


def test_page_shows_the_month_with_links_to_the_months_around_it(responder, clients, frozen):
    make_rotation("Primary", members=[responder], time_zone="UTC")
    response = clients["responder"].get("/oncall/load/?month=2026-03")
    assert response.status_code == 200
    html = response.content.decode()
    assert "On-call load: March 2026" in html
    assert "1 Mar to 31 Mar 2026, in your time zone (UTC)." in html
    assert 'href="?month=2026-02"' in html and 'href="?month=2026-04"' in html
    assert 'href="/oncall/load.csv?month=2026-03"' in html
    assert "22:00–06:59" in html
    # No month asked for: this month, and no link to a month not yet begun.
    current = clients["responder"].get("/oncall/load/")
    assert current.context["month"].key == "2026-04" and "?month=2026-05" not in current.content.decode()
    assert "up to now" in current.content.decode()


def test_the_month_is_the_viewers_calendar_month(responder, manager, clients, frozen):
    # 31 March 23:30 UTC is 1 April 01:30 in London (summer time): April's for a London viewer.
    set_zone(manager, "Europe/London")
    incident = make_incident(by=manager)
    paged(incident, responder, dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC))
    march_rows = clients["manager"].get("/oncall/load/?month=2026-03").context["rows"]
    assert not [r for r in march_rows if r.user.pk == responder.pk]
    assert row_of(clients["manager"].get("/oncall/load/?month=2026-04").context["rows"], responder).pages == 1


def test_empty_month(clients, frozen):
    response = clients["manager"].get("/oncall/load/?month=2026-02")
    assert response.status_code == 200
    assert "Nobody was on call, paged or made lead in February 2026." in response.content.decode()
    assert csv_rows(clients["manager"].get("/oncall/load.csv?month=2026-02")) == []


def test_csv_has_one_line_per_person(responder, manager, clients, frozen):
    make_rotation("Primary", members=[responder], time_zone="UTC")
    paged(make_incident(by=manager), responder, dt.datetime(2026, 3, 3, 23, 0, tzinfo=dt.UTC))
    response = clients["manager"].get("/oncall/load.csv?month=2026-03")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="oncall-load-2026-03.csv"' in response["Content-Disposition"]
    assert csv_rows(response) == [
        {
            "month": "2026-03",
            "person": "Rob Responder",
            "username": "rob",
            "active": "yes",
            "time_zone": "UTC",
            "pages": "1",
            "night_pages": "1",
            "hours_on_call": "744.00",
            "incidents_led": "0",
        }
    ]


def test_csv_keeps_a_name_that_looks_like_a_formula_as_text(manager, clients, frozen):
    sneaky = make_user("sneaky", roles.RESPONDER, first_name="=HYPERLINK(1)")
    make_rotation("Primary", members=[sneaky], time_zone="UTC")
    (line,) = csv_rows(clients["manager"].get("/oncall/load.csv?month=2026-03"))
    assert line["person"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    "month, message",
    [
        ("March", "Enter a month as year and month, such as 2026-03."),
        ("2026-13", "Enter a month as year and month, such as 2026-03."),
        ("2026-3", "Enter a month as year and month, such as 2026-03."),
        ("２０２６-03", "Enter a month as year and month, such as 2026-03."),
        ("1999-12", "Choose a month from 2000-01 on."),
        ("2026-05", "2026-05 has not begun yet: choose 2026-04 or earlier."),
    ],
)
def test_a_bad_month_is_refused_with_a_message(clients, month, message, frozen):
    response = clients["manager"].get("/oncall/load/", {"month": month})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "This month cannot be shown" in html
    refused = clients["manager"].get("/oncall/load.csv", {"month": month})
    assert refused.status_code == 400
    assert refused.content.decode() == f"Bad month: {message}\n"


def test_the_first_month_has_no_link_before_it(clients, frozen):
    html = clients["manager"].get("/oncall/load/?month=2000-01").content.decode()
    assert "?month=1999-12" not in html and 'href="?month=2000-02"' in html


def test_only_responders_and_managers_see_the_link(clients, frozen):
    assert 'href="/oncall/load/"' in clients["responder"].get("/oncall/").content.decode()
    assert 'href="/oncall/load/"' not in clients["viewer"].get("/oncall/").content.decode()


# --- bounded ----------------------------------------------------------------------------------------


def test_queries_do_not_grow_with_the_history(clients, users, manager, django_assert_max_num_queries, frozen):
    people = [make_user(f"oncall{i}", roles.RESPONDER, first_name=f"Person {i}") for i in range(12)]
    for i, person in enumerate(people):
        set_zone(person, ["Europe/London", "America/New_York", "Asia/Tokyo", ""][i % 4])
    rotations = [
        make_rotation(f"Rotation {i}", members=people[i * 3 : i * 3 + 3], shift_kind="hours", shift_hours=6)
        for i in range(4)
    ]
    for i, rotation in enumerate(rotations):
        for day in range(0, 60, 3):
            start = dt.datetime(2026, 2, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)
            make_override(rotation, people[(i + day) % 12], start, start + dt.timedelta(hours=10))
    incidents = [make_incident(by=manager, title=f"Incident {i}") for i in range(10)]
    entries = []
    for n in range(3000):  # a year of pages before, during and after March
        at = dt.datetime(2025, 6, 1, tzinfo=dt.UTC) + dt.timedelta(hours=3 * n + n % 5)
        person = people[n % 12]
        kind = Kind.PAGE if n % 3 else Kind.ESCALATION
        entries.append(TimelineEntry(incident=incidents[n % 10], kind=kind, created_at=at, data={"user_id": person.pk}))
        if n % 7 == 0:
            data = {"new_id": person.pk, "new": "x", "old": "y"}
            entries.append(TimelineEntry(incident=incidents[n % 10], kind=Kind.LEAD_CHANGE, created_at=at, data=data))
    # Someone in no rotation, paged in March (by a policy naming them): one more query, for the people.
    outsider = make_user("outsider", roles.RESPONDER)
    march_3 = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    data = {"user_id": outsider.pk}
    entries.append(TimelineEntry(incident=incidents[0], kind=Kind.PAGE, created_at=march_3, data=data))
    TimelineEntry.objects.bulk_create(entries)
    start, end = dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    in_march = sum(e.kind != Kind.LEAD_CHANGE and start <= e.created_at < end for e in entries)
    assert 200 < in_march < 3000
    # Session, user, profile, permissions; four for the rotations; the pages, the leads, the people.
    with django_assert_max_num_queries(11):
        response = clients["manager"].get("/oncall/load/?month=2026-03")
    rows = response.context["rows"]
    assert len(rows) == 13
    assert sum(r.pages for r in rows) == in_march  # March's pages only
    assert all(r.on_call > dt.timedelta(0) for r in rows if r.user != outsider)
    with django_assert_max_num_queries(11):
        assert clients["responder"].get("/oncall/load.csv?month=2026-03").status_code == 200


# --- the API -----------------------------------------------------------------------------------------


def test_the_api_gives_the_same_figures_in_the_token_owners_time_zone(
    responder, other_responder, manager, django_assert_max_num_queries, frozen
):
    from incidents.api.tests.support import call, personal_token

    set_zone(manager, "Europe/London")
    make_rotation("Primary", members=[responder], time_zone="UTC")
    paged(make_incident(by=manager), responder, dt.datetime(2026, 3, 3, 23, 0, tzinfo=dt.UTC))
    token = personal_token(manager)
    with django_assert_max_num_queries(11):
        response = call("get", "/api/oncall/load?month=2026-03", token)
    assert response.status_code == 200
    assert response.json() == {
        "month": "2026-03",
        "start": "2026-03-01T00:00:00+00:00",
        "end": "2026-04-01T00:00:00+01:00",
        "night": "22:00–06:59",
        "people": [
            {
                "username": "rob",
                "name": "Rob Responder",
                "active": True,
                "time_zone": "UTC",
                "pages": 1,
                "night_pages": 1,
                "hours_on_call": 743.0,  # London's March: the clocks went forward
                "incidents_led": 0,
            }
        ],
    }
    assert call("get", "/api/oncall/load", token).json()["month"] == "2026-04"


def test_the_api_refuses_a_bad_month_and_those_not_on_call(responder, viewer, frozen):
    from incidents.api.tests.support import call, integration_token, personal_token

    token = personal_token(responder)
    response = call("get", "/api/oncall/load?month=2026-13", token)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"field": "month", "message": "Enter a month as year and month, such as 2026-03."}]
    }
    assert call("get", "/api/oncall/load?month=2026-03&team=a", token).json()["detail"][0]["field"] == "team"
    assert call("get", "/api/oncall/load", personal_token(viewer)).status_code == 403
    assert call("get", "/api/oncall/load", integration_token()).status_code == 403
    assert call("get", "/api/oncall/load").status_code == 401
