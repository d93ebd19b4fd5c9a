"""Shift arithmetic (incidents/oncall/schedule.py): pure, so each test passes the instant it asks about."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from incidents.oncall.schedule import DAILY, HOURS, WEEKLY, Cover, Schedule

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(zone, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


def schedule(kind=DAILY, members=("ann", "bob", "cat"), zone=LONDON, start=dt.date(2026, 3, 1), **kw) -> Schedule:
    return Schedule(kind=kind, handoff_time=dt.time(9, 0), zone=zone, start_date=start, members=members, **kw)


def test_daily_rotation_takes_turns_at_the_handoff():
    s = schedule()
    assert s.on_call(local(LONDON, 2026, 3, 1, 9, 0)).user == "ann"
    assert s.on_call(local(LONDON, 2026, 3, 2, 8, 59)).user == "ann"
    assert s.on_call(local(LONDON, 2026, 3, 2, 9, 0)).user == "bob"
    assert s.on_call(local(LONDON, 2026, 3, 4, 12, 0)).user == "ann"  # back round


def test_nobody_before_the_first_handoff_and_none_without_members():
    assert schedule().on_call(local(LONDON, 2026, 3, 1, 8, 59)) is None
    assert schedule(members=()).on_call(local(LONDON, 2026, 3, 10, 12)) is None
    assert schedule(members=()).timeline(utc(2026, 3, 1), utc(2026, 4, 1)) == []
    assert schedule(members=()).next_in_line(utc(2026, 3, 5)) is None


@pytest.mark.parametrize(
    "zone, before_change, after_change",
    [
        # Europe/London: clocks go forward on 29 March 2026 and back on 25 October 2026.
        (LONDON, dt.date(2026, 3, 28), dt.date(2026, 3, 29)),
        (LONDON, dt.date(2026, 10, 24), dt.date(2026, 10, 25)),
        # America/New_York: forward on 8 March 2026, back on 1 November 2026.
        (NEW_YORK, dt.date(2026, 3, 7), dt.date(2026, 3, 8)),
        (NEW_YORK, dt.date(2026, 10, 31), dt.date(2026, 11, 1)),
        # Australia/Sydney (southern hemisphere): back on 5 April 2026, forward on 4 October 2026.
        (SYDNEY, dt.date(2026, 4, 4), dt.date(2026, 4, 5)),
        (SYDNEY, dt.date(2026, 10, 3), dt.date(2026, 10, 4)),
    ],
)
def test_daily_handoff_stays_at_local_time_across_dst(zone, before_change, after_change):
    s = schedule(zone=zone, start=dt.date(2026, 1, 1))
    before = s.on_call(dt.datetime.combine(before_change, dt.time(12), tzinfo=zone))
    # The shift over the change runs from 09:00 local to 09:00 local: 23 or 25 real hours.
    assert before.start.astimezone(zone).time() == dt.time(9, 0)
    assert before.end.astimezone(zone).time() == dt.time(9, 0)
    assert before.end.astimezone(zone).date() == after_change
    assert before.end - before.start in (dt.timedelta(hours=23), dt.timedelta(hours=25))
    after = s.on_call(dt.datetime.combine(after_change, dt.time(9, 0), tzinfo=zone))
    assert after.start == before.end and after.user != before.user


def test_weekly_handoff_across_dst_in_london():
    s = schedule(kind=WEEKLY, start=dt.date(2026, 3, 23))  # a Monday
    first = s.on_call(local(LONDON, 2026, 3, 24, 12))
    assert first.user == "ann"
    assert first.start == utc(2026, 3, 23, 9)  # 09:00 GMT
    assert first.end == utc(2026, 3, 30, 8)  # 09:00 BST
    assert first.end - first.start == dt.timedelta(days=7) - dt.timedelta(hours=1)
    assert s.on_call(utc(2026, 3, 30, 8)).user == "bob"


def test_hours_shifts_count_real_hours_so_the_local_handoff_moves():
    s = schedule(kind=HOURS, hours=12, start=dt.date(2026, 3, 28))  # first handoff 09:00 GMT
    shifts = s.timeline(utc(2026, 3, 28, 9), utc(2026, 3, 30, 9))
    assert all(x.end - x.start == dt.timedelta(hours=12) for x in shifts)
    assert [x.user for x in shifts] == ["ann", "bob", "cat", "ann"]
    # After the spring-forward night the 12-hourly handoff is at 10:00 and 22:00 BST.
    assert shifts[2].start.astimezone(LONDON).time() == dt.time(10, 0)


def test_handoff_inside_the_spring_forward_gap_happens_an_hour_later_by_the_new_clock():
    s = Schedule(DAILY, dt.time(1, 30), LONDON, dt.date(2026, 3, 27), members=("ann", "bob"))
    shift = s.on_call(local(LONDON, 2026, 3, 29, 12))
    assert shift.start == utc(2026, 3, 29, 1, 30)  # 01:30 GMT = 02:30 BST; 01:30 BST never happened
    assert s.on_call(utc(2026, 3, 29, 1, 29)).user != shift.user


def test_ambiguous_fall_back_handoff_is_the_first_one():
    s = Schedule(DAILY, dt.time(1, 30), LONDON, dt.date(2026, 10, 23), members=("ann", "bob"))
    shift = s.on_call(utc(2026, 10, 25, 3))
    assert shift.start == utc(2026, 10, 25, 0, 30)  # 01:30 BST, the first 01:30 of the night


def test_override_takes_precedence_for_its_period_only():
    cover = Cover("dan", utc(2026, 3, 2, 12), utc(2026, 3, 2, 18), rank=1, covered_user="bob")
    s = schedule(overrides=(cover,))
    assert s.on_call(utc(2026, 3, 2, 11)).user == "bob"
    covering = s.on_call(utc(2026, 3, 2, 12))
    assert (covering.user, covering.override) == ("dan", True)
    assert (covering.start, covering.end) == (cover.start, cover.end)
    back = s.on_call(utc(2026, 3, 2, 18))
    assert back.user == "bob" and back.end == utc(2026, 3, 3, 9)


def test_newest_of_overlapping_overrides_wins_and_override_works_without_members():
    older = Cover("dan", utc(2026, 3, 2), utc(2026, 3, 4), rank=1)
    newer = Cover("eve", utc(2026, 3, 3), utc(2026, 3, 3, 6), rank=2)
    s = schedule(members=(), overrides=(newer, older))
    assert s.on_call(utc(2026, 3, 2, 12)).user == "dan"
    assert s.on_call(utc(2026, 3, 3, 1)).user == "eve"
    assert s.on_call(utc(2026, 3, 3, 7)).user == "dan"
    assert s.on_call(utc(2026, 3, 4, 1)) is None


def test_override_by_the_person_already_on_call_merges_into_one_shift():
    s = schedule(overrides=(Cover("ann", utc(2026, 3, 2, 9), utc(2026, 3, 2, 12), rank=1),))
    shift = s.on_call(utc(2026, 3, 2, 10))
    assert shift.user == "ann" and shift.start == utc(2026, 3, 1, 9) and shift.end == utc(2026, 3, 2, 12)


def test_timeline_shifts_are_whole_whatever_the_window():
    s = schedule()
    one = s.timeline(utc(2026, 3, 2, 15), utc(2026, 3, 2, 16))
    assert len(one) == 1 and one[0].start == utc(2026, 3, 2, 9) and one[0].end == utc(2026, 3, 3, 9)


def test_next_shift_handoffs_and_next_in_line():
    s = schedule()
    at = utc(2026, 3, 2, 12)
    assert s.next_shift(at).user == "cat"
    assert s.next_shift(at).start == utc(2026, 3, 3, 9)
    handoffs = s.handoffs(utc(2026, 3, 2, 12), utc(2026, 3, 4, 9))
    assert [(h.outgoing, h.incoming) for h in handoffs] == [("bob", "cat"), ("cat", "ann")]
    assert s.next_in_line(at) == "cat"
    assert s.next_in_line(at, exclude=["cat"]) == "ann"
    assert s.next_in_line(at, exclude=["ann", "bob", "cat"]) is None
    assert schedule(members=("ann",)).next_shift(at) is None  # alone: no other shift to come


def test_single_member_rotation_has_no_handoffs():
    assert schedule(members=("ann",)).handoffs(utc(2026, 3, 2), utc(2026, 4, 2)) == []


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError):
        schedule(kind="monthly")
    with pytest.raises(ValueError):
        schedule(kind=HOURS, hours=0)


def test_shift_index_is_exact_across_many_weeks_of_dst_changes():
    """Every hour of a year lies in the shift whose [start, end) contains it."""
    s = schedule(zone=NEW_YORK, start=dt.date(2026, 1, 1))
    at = utc(2026, 1, 1, 14)
    while at < utc(2027, 1, 1):
        n = s.shift_index(at)
        assert s.shift_start(n) <= at < s.shift_start(n + 1)
        at += dt.timedelta(hours=1)


def test_override_extending_a_shift_moves_its_end():
    s = schedule(overrides=(Cover("ann", utc(2026, 3, 2, 9), utc(2026, 3, 2, 12), rank=1),))
    assert s.on_call(utc(2026, 3, 2, 8)).end == utc(2026, 3, 2, 12)  # "until" is the real end


def test_one_person_alone_is_on_call_until_further_notice():
    shift = schedule(members=("ann",)).on_call(utc(2026, 3, 5))
    assert shift.user == "ann" and shift.open_end
    assert shift.start == utc(2026, 3, 1, 9)  # followed back to the first shift
    assert not schedule().on_call(utc(2026, 3, 5)).open_end


def test_hourly_single_member_stays_fast():
    s = schedule(kind=HOURS, hours=1, members=("ann",))
    assert s.on_call(utc(2026, 4, 1)).open_end
