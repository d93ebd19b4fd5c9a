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

from django.utils.timezone import localtime

from incidents.models import MaintenanceWindow, Silence, SilencedAlert, silence_for


def hold_back(alerts: list, at: dt.datetime) -> tuple[list, list]:
    """(alerts that go on, alerts a silence holds back); the held back ones recorded, once.
    `alerts` are the intake's AlertIn (not imported: the intake imports this module).

    One query for the silences in force, none when there are none to match against.
    """
    if not alerts:
        return alerts, []
    silences = list(Silence.objects.active(at).order_by("pk"))
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
                received_at=at,
            )
        )
    if rows:
        # A re-sent group repeats the same alerts: the first record stands.
        SilencedAlert.objects.bulk_create(rows, ignore_conflicts=True)
    return kept, held


def maintenance_note(service_id: int, at: dt.datetime) -> tuple[str, dict]:
    """(" — during maintenance …", {"maintenance_window": pk}) for an alert entry of a service in
    maintenance at `at`; ("", {}) otherwise. One query."""
    window = MaintenanceWindow.objects.active(at).filter(services=service_id).order_by("end", "pk").first()
    if window is None:
        return "", {}
    return (
        f" — during maintenance (window #{window.pk}, until {localtime(window.end):%Y-%m-%d %H:%M %Z}): "
        "nobody is paged",
        {"maintenance_window": window.pk},
    )
