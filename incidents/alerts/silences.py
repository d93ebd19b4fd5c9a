"""What the intake does about silences and maintenance windows (docs/maintenance.md).

An alert that matches a silence in force when it arrives is recorded (`SilencedAlert`) and
goes no further: no incident, no page. Only alerts Beacon has not stored yet are held back, so
an alert that fired before the silence still resolves its incident. An alert for a service in
a maintenance window goes on as usual; its timeline entry says "during maintenance", and
paging, at the top of `oncall.paging.page`, pages nobody.

Imports the core only (the models); `incidents/maintenance/` makes and cancels both.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from django.db import connection
from django.utils.timezone import localtime

from incidents.models import MaintenanceWindow, Silence, SilencedAlert, plain, silence_for

# Their values come back from the plain statement as the ORM converts them (models/plain.py).
_MATCHERS = Silence._meta.get_field("matchers")
_END = MaintenanceWindow._meta.get_field("end")
_SILENCE = Silence._meta.db_table
_WINDOW = MaintenanceWindow._meta.db_table
_WINDOW_SERVICES = MaintenanceWindow.services.through._meta.db_table
# What Silence.objects.active(at) and MaintenanceWindow.objects.active(at) select (a window
# once per service), as (kind, id, matchers, service id, end): 0 a silence, 1 a window.
IN_FORCE_SQL = f"""
SELECT 0, s.id, s.matchers, NULL, s.expires_at FROM {_SILENCE} s
 WHERE s.cancelled_at IS NULL AND s.starts_at <= %s AND s.expires_at > %s
UNION ALL
SELECT 1, w.id, NULL, ws.service_id, w."end" FROM {_WINDOW} w
  JOIN {_WINDOW_SERVICES} ws ON ws.maintenancewindow_id = w.id
 WHERE w.cancelled_at IS NULL AND w.start <= %s AND w."end" > %s
"""


class InForce:
    """The silences and maintenance windows in force at `at`, read with one query the first time
    they are asked for. The intake reads them before it locks an alert group when the payload
    has a firing alert (intake.receive): deliveries of one group wait for each other, so the
    lock is then held for the delivery's own reads and writes only."""

    def __init__(self, at: dt.datetime):
        self.at = at

    @cached_property
    def _rows(self) -> list[tuple]:
        # Plain SQL: the ORM's union of the two annotated querysets cost 2 ms to build on every
        # delivery, four times its run (bench/results.md); the columns are few and fixed.
        at = connection.ops.adapt_datetimefield_value(self.at)
        with connection.cursor() as cursor:
            cursor.execute(IN_FORCE_SQL, [at, at, at, at])
            return cursor.fetchall()

    def load(self) -> InForce:
        self._rows  # noqa: B018 - read now, not when first asked
        return self

    @cached_property
    def silences(self) -> list[Silence]:
        """By pk (the first that matches is the one an alert is recorded under)."""
        rows = (
            Silence(pk=pk, matchers=plain.value_of(_MATCHERS, matchers))
            for kind, pk, matchers, _, _ in self._rows
            if kind == 0
        )
        return sorted(rows, key=lambda silence: silence.pk)

    @cached_property
    def windows(self) -> list[tuple[int, int, dt.datetime]]:
        """(service id, window id, end) of each window and service, the soonest to end first."""
        rows = ((service, pk, plain.value_of(_END, end)) for kind, pk, _, service, end in self._rows if kind == 1)
        return sorted(rows, key=lambda window: (window[2], window[1]))


def hold_back(alerts: list, now_in_force: InForce) -> tuple[list, list]:
    """(alerts that go on, alerts a silence holds back); the held back ones recorded, once.
    `alerts` are the intake's AlertIn (not imported: the intake imports this module).

    No query when no silence is in force, one insert when some alerts are held back.
    """
    if not alerts:
        return alerts, []
    silences = now_in_force.silences
    if not silences:
        return alerts, []
    kept, held, rows = [], [], []
    for alert in alerts:
        silence = silence_for(alert.labels, silences)
        if silence is None:
            kept.append(alert)
            continue
        held.append(alert)
        rows.append(
            SilencedAlert(
                silence=silence,
                fingerprint=alert.fingerprint,
                starts_at=alert.startsAt,
                status=alert.status,
                labels=alert.labels,
                received_at=now_in_force.at,
            )
        )
    if rows:
        # A re-sent group repeats the same alerts: the first record stands.
        SilencedAlert.objects.bulk_create(rows, ignore_conflicts=True)
    return kept, held


def maintenance_note(service_id: int, now_in_force: InForce) -> tuple[str, dict]:
    """(" — during maintenance …", {"maintenance_window": pk}) for an alert entry of a service in
    maintenance; ("", {}) otherwise. No query."""
    window = next(((pk, end) for service, pk, end in now_in_force.windows if service == service_id), None)
    if window is None:
        return "", {}
    pk, end = window
    return (
        f" — during maintenance (window #{pk}, until {localtime(end):%Y-%m-%d %H:%M %Z}): nobody is paged",
        {"maintenance_window": pk},
    )
