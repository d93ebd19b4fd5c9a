"""Who is on call when: pure schedule arithmetic, no database, no clock of its own.

A `Schedule` is a rotation as plain values: ordered members, shift length, handoff time,
time zone, start date and overrides. Every function takes the instant it is asked about;
`incidents/oncall/paging.py` builds schedules from the models and passes `timezone.now()`.

Choices, so that nobody has to guess:

* **Daily and weekly shifts hand off at the same local wall-clock time.** A rotation that
  hands off at 09:00 Europe/London does so at 09:00 GMT in winter and 09:00 BST in summer;
  the shift that spans the change is 23 or 25 hours long. Shift *n* starts on local day
  `start_date + n × (1 or 7)` at `handoff_time`.
* **Hours-based shifts count real elapsed hours** from the first handoff (start date at
  the handoff time, local), whatever the clocks do: a 12-hour shift is always 12 hours
  long, so its local handoff time moves by an hour across a DST change. Anything else
  would give someone an 11- or 13-hour shift without saying so.
* A handoff time that does not exist on a spring-forward day (01:30 in London) happens
  at the same UTC offset as before the change, i.e. one hour later by the new clocks;
  an ambiguous one on a fall-back day is the first of the two (Python's `fold=0`).
* **Overrides win** over the schedule for their whole period. Where overrides overlap,
  the one with the highest `rank` (the newest) wins.
* Nobody is on call before the first handoff, or when a rotation has no members and no
  override covers the moment.
* Consecutive stretches of the same person merge into one shift: a handoff is a change
  of person, never a person handing over to themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

DAILY, WEEKLY, HOURS = "daily", "weekly", "hours"
_DAYS = {DAILY: 1, WEEKLY: 7}
UTC = dt.UTC


# How far beyond a window a person's stretch of shifts is followed (Schedule.timeline).
REACH = dt.timedelta(weeks=8)
TICK = dt.timedelta(microseconds=1)


def _key(user) -> Hashable:
    """Users compare by primary key (model instances from different queries), else by value."""
    return getattr(user, "pk", user)


def _same(a, b) -> bool:
    return a is not None and b is not None and _key(a) == _key(b)


@dataclass(frozen=True)
class Cover:
    """An override: `user` is on call from `start` to `end` (aware datetimes)."""

    user: object
    start: dt.datetime
    end: dt.datetime
    rank: int = 0
    covered_user: object | None = None


@dataclass(frozen=True)
class Shift:
    """Who is on call from `start` to `end`. `override` says an override made (part of) it."""

    user: object
    start: dt.datetime
    end: dt.datetime
    override: bool = False
    # Still going on where the computation stopped looking (Schedule.timeline's `reach`).
    open_end: bool = False


@dataclass(frozen=True)
class Handoff:
    at: dt.datetime
    outgoing: object | None
    incoming: object


@dataclass(frozen=True)
class Schedule:
    kind: str
    handoff_time: dt.time
    zone: ZoneInfo
    start_date: dt.date
    members: Sequence = ()
    hours: int | None = None
    overrides: Sequence[Cover] = field(default_factory=tuple)
    # Free for the caller (paging.py keeps the Rotation here); never used in the arithmetic.
    source: object | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.kind not in (DAILY, WEEKLY, HOURS):
            raise ValueError(f"Unknown shift kind {self.kind!r}")
        if self.kind == HOURS and not (self.hours and self.hours > 0):
            raise ValueError("An hours-based shift needs a positive number of hours")

    # --- the plain schedule, overrides aside ---------------------------------------

    def shift_start(self, n: int) -> dt.datetime:
        """The instant (UTC) shift number `n` starts; shift 0 is the first one."""
        if self.kind == HOURS:
            return self.shift_start_zero + dt.timedelta(hours=self.hours * n)
        day = self.start_date + dt.timedelta(days=_DAYS[self.kind] * n)
        # fold=0: see the module docstring for missing and doubled local times.
        return dt.datetime.combine(day, self.handoff_time, tzinfo=self.zone).astimezone(UTC)

    @property
    def shift_start_zero(self) -> dt.datetime:
        return dt.datetime.combine(self.start_date, self.handoff_time, tzinfo=self.zone).astimezone(UTC)

    def shift_index(self, at: dt.datetime) -> int | None:
        """The number of the shift running at `at`, or None before the first handoff."""
        first = self.shift_start_zero
        if at < first:
            return None
        if self.kind == HOURS:
            return int((at - first) // dt.timedelta(hours=self.hours))
        # A first guess from the local date, then step to the exact shift: DST moves the
        # boundaries by at most an hour, so this takes at most a step or two.
        local_day = at.astimezone(self.zone).date()
        n = max(0, (local_day - self.start_date).days // _DAYS[self.kind])
        while n > 0 and self.shift_start(n) > at:
            n -= 1
        while self.shift_start(n + 1) <= at:
            n += 1
        return n

    def scheduled(self, at: dt.datetime):
        """The member the schedule (no overrides) puts on call at `at`, or None."""
        n = self.shift_index(at)
        if n is None or not self.members:
            return None
        return self.members[n % len(self.members)]

    # --- with overrides ----------------------------------------------------------

    def _cover_at(self, at: dt.datetime) -> Cover | None:
        best = None
        for cover in self.overrides:
            if cover.start <= at < cover.end and (best is None or cover.rank > best.rank):
                best = cover
        return best

    def _who(self, at: dt.datetime):
        cover = self._cover_at(at)
        return cover.user if cover else self.scheduled(at)

    def _snap(self, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """Widen [start, end) to the edges of the shifts and overrides running at its ends."""
        lo, hi = start, end
        n_lo, n_hi = self.shift_index(start), self.shift_index(end)
        if self.members and n_lo is not None:
            lo = min(lo, self.shift_start(n_lo))
        if self.members:
            hi = max(hi, self.shift_start((n_hi if n_hi is not None else -1) + 1))
        for cover in self.overrides:
            if cover.start <= start < cover.end:
                lo = min(lo, cover.start)
            if cover.start <= end < cover.end:
                hi = max(hi, cover.end)
        return lo, hi

    def _segments(self, lo: dt.datetime, hi: dt.datetime) -> list[Shift]:
        cuts = {lo, hi}
        if self.members:
            n = self.shift_index(lo)
            n = (n if n is not None else -1) + 1
            while (at := self.shift_start(n)) < hi:
                if at > lo:
                    cuts.add(at)
                n += 1
        for cover in self.overrides:
            cuts.update(t for t in (cover.start, cover.end) if lo < t < hi)
        points = sorted(cuts)
        shifts: list[Shift] = []
        for a, b in zip(points, points[1:], strict=False):
            cover = self._cover_at(a)
            user = cover.user if cover else self.scheduled(a)
            if user is None:
                continue
            last = shifts[-1] if shifts else None
            if last and last.end == a and _key(last.user) == _key(user):
                shifts[-1] = Shift(last.user, last.start, b, last.override or cover is not None)
            else:
                shifts.append(Shift(user, a, b, cover is not None))
        return shifts

    def timeline(self, start: dt.datetime, end: dt.datetime, *, reach: dt.timedelta = REACH) -> list[Shift]:
        """Every shift overlapping [start, end), in order, overrides applied.

        Shifts are whole, not cut at `start` or `end`: a person's stretch is followed back
        and forth up to `reach` beyond the window (so a calendar entry keeps its start and end
        however the window moves, and "on call until" is the real end). A stretch still going
        on at `end + reach` has `open_end` set: "until further notice".
        """
        if end <= start:
            return []
        lo, hi = start, end
        while True:
            lo, hi = self._snap(lo, hi)
            shifts = self._segments(lo, hi)
            if not shifts:
                return []
            first, last = shifts[0], shifts[-1]
            grow_lo = first.start == lo and lo > start - reach and _same(self._who(lo - TICK), first.user)
            grow_hi = last.end == hi and hi < end + reach and _same(self._who(hi), last.user)
            if not (grow_lo or grow_hi):
                break
            # Doubling keeps this O(n log n) for a single person on call for weeks of 1-hour shifts.
            width = max(hi - lo, dt.timedelta(days=1))
            if grow_lo:
                lo = max(lo - width, start - reach)
            if grow_hi:
                hi = min(hi + width, end + reach)
        if last.end == hi and _same(self._who(hi), last.user):
            shifts[-1] = replace(last, open_end=True)
        return [s for s in shifts if s.end > start and s.start < end]

    def on_call(self, at: dt.datetime) -> Shift | None:
        """The shift running at `at` (who, since when, until when), or None if nobody is on call."""
        for shift in self.timeline(at, at + TICK):
            if shift.start <= at < shift.end:
                return shift
        return None

    def next_shift(self, at: dt.datetime, *, horizon: dt.timedelta = dt.timedelta(weeks=8)) -> Shift | None:
        """The first shift starting after `at` (a different person from now), within `horizon`."""
        for shift in self.timeline(at, at + horizon):
            if shift.start > at:
                return shift
        return None

    def handoffs(self, start: dt.datetime, end: dt.datetime) -> list[Handoff]:
        """Every change of person in (start, end]: when, from whom (None after a gap), to whom."""
        result = []
        previous = None
        for shift in self.timeline(start, end + TICK):
            if start < shift.start <= end:
                outgoing = previous.user if previous and previous.end == shift.start else None
                result.append(Handoff(shift.start, outgoing, shift.user))
            previous = shift
        return result

    def next_in_line(self, at: dt.datetime, *, exclude: Iterable = ()) -> object | None:
        """The next member in rotation order after the one scheduled at `at`, skipping `exclude`.

        Escalation pages this person when the on-call engineer does not answer. Before the
        first handoff the order starts at the first member.
        """
        if not self.members:
            return None
        skip = {_key(u) for u in exclude}
        n = self.shift_index(at)
        first = (n + 1) if n is not None else 0
        count = len(self.members)
        for i in range(count):
            member = self.members[(first + i) % count]
            if _key(member) not in skip:
                return member
        return None
