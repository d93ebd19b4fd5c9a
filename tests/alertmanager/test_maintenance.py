"""Maintenance with the real programs: during a window for the app's service its target dies,
Prometheus fires TargetDown, Alertmanager posts to Beacon: the incident is recorded, nobody is
paged (the on-call engineer would be, outside the window), and the public status page shows
the maintenance in progress.

Beacon is read over HTTP while the processes run, the database directly only after they stop
(see test_end_to_end.py).
"""

import datetime as dt
import re

import pytest
from django.utils.timezone import now

from incidents.maintenance import rules
from incidents.models import Incident, Integration, Notification, TimelineEntry
from incidents.oncall.tests.data import make_rotation
from incidents.tests.factories import ServiceFactory
from tests.alertmanager.test_end_to_end import get, session_cookie, wait_until

pytestmark = [pytest.mark.alertmanager]
Kind = TimelineEntry.Kind


def test_a_target_dying_during_maintenance_records_an_incident_and_pages_nobody(
    beacon, dummy_target, monitoring, processes, responder, manager
):
    app = ServiceFactory(name="app")
    # Someone is on call for the service: outside the window, they would be paged at once.
    make_rotation("App primary", members=[responder], services=[app], start_date=dt.date(2026, 1, 5))
    window = rules.schedule_window(
        by=manager,
        services=[app],
        start=now() - dt.timedelta(minutes=1),
        end=now() + dt.timedelta(hours=1),
        description="Database upgrade: the app may be unavailable for a few minutes.",
    )
    integration = Integration(name="e2e", kind=Integration.Kind.ALERTMANAGER)
    token = integration.set_new_token()
    integration.save()
    cookie = session_cookie(responder)
    monitoring(token)

    status = get("/status/", "")
    assert f'id="maintenance-{window.pk}"' in status and "In progress" in status
    assert "Database upgrade: the app may be unavailable" in status

    def open_refs() -> list[str]:
        return sorted(set(re.findall(r'href="/incidents/(INC-\d+)/"', get("/incidents/", cookie))))

    dummy_target.stop()
    refs = wait_until(open_refs, 60, "an incident for the stopped target", processes.logs)
    assert len(refs) == 1, refs
    page = get(f"/incidents/{refs[0]}/", cookie)
    assert "during maintenance" in page and "Not paged during maintenance" in page
    assert "During maintenance" in get("/", cookie)  # the dashboard marks it
    processes.stop_all()

    incident = Incident.objects.get()
    assert incident.service == app and incident.severity == Incident.Severity.CRITICAL
    assert incident.lead == responder
    assert not incident.timeline.filter(kind__in=[Kind.PAGE, Kind.ESCALATION]).exists()
    suppressed = incident.timeline.get(kind=Kind.NOTIFICATION)
    assert suppressed.data["maintenance_window"] == window.pk and suppressed.data["user_id"] == responder.pk
    assert incident.timeline.get(kind=Kind.ALERT_FIRED).data["maintenance_window"] == window.pk
    assert not Notification.objects.filter(subject__contains="paged").exists()
