"""Alerts meet silences and maintenance windows at the intake, as Alertmanager delivers them
(real payloads, the real webhook view): a silenced alert is recorded and goes no further; an
alert during maintenance opens its incident, which pages nobody, and the timeline says so."""

import datetime as dt

import pytest
import time_machine
from django.utils.timezone import now

from incidents.alerts.tests.support import Poster, load, make_integration, variant
from incidents.maintenance import rules
from incidents.models import Alert, Incident, MaintenanceWindow, Notification, Silence, SilencedAlert, TimelineEntry
from incidents.oncall import paging
from incidents.oncall.tests.data import make_rotation
from incidents.tests.factories import ServiceFactory

Kind = TimelineEntry.Kind
# The captured payloads' alert fired at 09:41 that day; other_responder is on call at noon.
NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def am(db) -> Poster:
    return Poster(make_integration()[1])


@pytest.fixture
def app(responder, other_responder):
    """The service the captured alerts name (service="app"), with a rotation: someone to page."""
    service = ServiceFactory(name="app")
    make_rotation("App primary", members=[responder, other_responder], services=[service])
    return service


def silence(by, **fields) -> Silence:
    values = {
        "matchers": [{"name": "alertname", "op": "=", "value": "TargetDown"}],
        "expires_at": now() + dt.timedelta(hours=2),
    }
    return rules.create_silence(by=by, **{**values, **fields})


def window(by, service, *, start, hours=1) -> MaintenanceWindow:
    return rules.schedule_window(
        by=by, services=[service], start=start, end=start + dt.timedelta(hours=hours), description="Database upgrade"
    )


def paged() -> list:
    return list(TimelineEntry.objects.filter(kind__in=[Kind.PAGE, Kind.ESCALATION]))


def page_emails() -> list:
    return list(Notification.objects.filter(subject__contains="paged"))


# --- silences ----------------------------------------------------------------------------------


def test_a_silenced_alert_is_recorded_and_opens_no_incident_nor_page(am, app, manager):
    with time_machine.travel(NOON, tick=False):
        quiet = silence(manager)
        response = am.post(load("firing"))
        again = am.post(load("firing"))  # Alertmanager re-sends the group
    assert response.status_code == 200, response.content
    assert "1 alert(s) silenced" in response.json()["message"]
    assert again.status_code == 200
    assert not Incident.objects.exists()
    assert not Alert.objects.exists()
    assert paged() == [] and page_emails() == []
    held = SilencedAlert.objects.get()
    assert (held.silence, held.fingerprint, held.status) == (quiet, "8a43b5d2d8b1b090", "firing")
    assert held.labels["instance"] == "127.0.0.1:59665"


def test_only_the_matching_alerts_of_a_group_are_held_back(am, app, manager):
    payload = load("firing")
    other = {**payload["alerts"][0], "fingerprint": "ffff000011112222"}
    other["labels"] = {**other["labels"], "alertname": "HighLatency"}
    with time_machine.travel(NOON, tick=False):
        silence(manager)
        response = am.post(variant(payload, alerts=[payload["alerts"][0], other]))
    assert response.status_code == 200
    incident = Incident.objects.get()
    assert [a.labels["alertname"] for a in Alert.objects.all()] == ["HighLatency"]
    assert SilencedAlert.objects.get().labels["alertname"] == "TargetDown"
    assert "1 alert(s) silenced" in response.json()["message"]
    assert incident.timeline.filter(kind=Kind.PAGE).count() == 1  # the other alert pages as usual


@pytest.mark.parametrize("when", ["expired", "cancelled", "not started"])
def test_a_silence_not_in_force_when_the_alert_arrives_does_not_match(am, app, manager, when):
    with time_machine.travel(NOON - dt.timedelta(hours=3), tick=False):
        if when == "not started":  # from 13:00 to 15:00
            quiet = silence(manager, starts_at=now() + dt.timedelta(hours=4), expires_at=now() + dt.timedelta(hours=6))
        else:  # from 09:00 to 11:00
            quiet = silence(manager)
    if when == "cancelled":
        with time_machine.travel(NOON - dt.timedelta(hours=2), tick=False):
            rules.cancel_silence(quiet, by=manager)
    with time_machine.travel(NOON, tick=False):
        # Expired at 11:00 (made at 09:00 for 2 h): on time, with no task to end it.
        response = am.post(load("firing"))
    assert response.status_code == 200
    assert Incident.objects.count() == 1
    assert not SilencedAlert.objects.exists()
    assert len(paged()) == 1


def test_an_alert_stored_before_the_silence_still_resolves_its_incident(am, app, manager):
    with time_machine.travel(NOON, tick=False):
        am.post(load("firing"))
        silence(manager)
        response = am.post(load("resolved"))
    assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.status == "mitigated"
    assert not SilencedAlert.objects.exists()


def test_the_alert_panel_silences_the_group_for_two_hours_in_one_click(am, app, clients, responder):
    with time_machine.travel(NOON, tick=False):
        am.post(load("firing"))
        incident = Incident.objects.get()
        page = clients["responder"].get(incident.get_absolute_url()).content.decode()
        assert "Silence this alert for 2 h" in page
        response = clients["responder"].post(f"/maintenance/silences/incident/{incident.ref}/")
        assert response.status_code == 302 and response["Location"].endswith("#alert-group")
        made = Silence.objects.get()
        assert made.created_by == responder and made.alert_group == incident.alert_group
        assert made.expires_at == NOON + dt.timedelta(hours=2)
        assert made.matchers == [
            {"name": "alertname", "op": "=", "value": "TargetDown"},
            {"name": "service", "op": "=", "value": "app"},
            {"name": "job", "op": "=", "value": "app"},
            {"name": "instance", "op": "=", "value": "127.0.0.1:59665"},
        ]
        note = incident.timeline.get(kind=Kind.NOTE, data__silence=made.pk)
        assert note.author == responder and "Silenced until" in note.text
        page = clients["responder"].get(incident.get_absolute_url()).content.decode()
        assert f"silence #{made.pk}" in page
        # The same alert firing again (a new start) is held back.
        refired = load("firing")
        refired["alerts"][0]["startsAt"] = "2026-01-14T12:00:00Z"
        am.post(refired)
    assert Alert.objects.count() == 1 and SilencedAlert.objects.count() == 1
    with time_machine.travel(NOON + dt.timedelta(hours=2), tick=False):
        refired["alerts"][0]["startsAt"] = "2026-01-14T14:00:00Z"
        am.post(refired)
    assert Alert.objects.count() == 2  # expired on time


def test_the_panel_offers_no_silence_to_those_who_may_not_and_refuses_their_post(am, app, clients, viewer):
    with time_machine.travel(NOON, tick=False):
        am.post(load("firing"))
    incident = Incident.objects.get()
    assert clients["reporter"].post(f"/maintenance/silences/incident/{incident.ref}/").status_code == 403
    assert not Silence.objects.exists()


# --- maintenance windows -------------------------------------------------------------------------


def test_during_maintenance_an_alert_opens_its_incident_but_pages_nobody(am, app, manager, other_responder):
    with time_machine.travel(NOON, tick=False):
        planned = window(manager, app, start=NOON - dt.timedelta(minutes=10))
        response = am.post(load("firing"))
    assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.lead == other_responder  # still the on-call lead, told nothing at once
    assert paged() == [] and page_emails() == []
    suppressed = incident.timeline.get(kind=Kind.NOTIFICATION)
    assert suppressed.data["maintenance_window"] == planned.pk
    assert suppressed.data["user_id"] == other_responder.pk
    assert suppressed.text.startswith("Not paged during maintenance: Ola Oncall")
    fired = incident.timeline.get(kind=Kind.ALERT_FIRED)
    assert "during maintenance" in fired.text and fired.data["maintenance_window"] == planned.pk
    # Nor does the escalation page anyone.
    with time_machine.travel(NOON + dt.timedelta(minutes=5), tick=False):
        paging.escalation_step(incident.pk, 1)
    assert paged() == [] and page_emails() == []
    assert incident.timeline.filter(kind=Kind.NOTIFICATION, data__suppressed_page=Kind.ESCALATION).exists()


def test_the_entry_names_the_window_of_the_alerts_service_that_ends_first(am, app, manager):
    """Silences and windows are read together (alerts/silences.py, InForce): neither is taken
    for the other, and another service's window never counts."""
    with time_machine.travel(NOON, tick=False):
        window(manager, ServiceFactory(name="billing"), start=NOON - dt.timedelta(minutes=5), hours=1)
        window(manager, app, start=NOON - dt.timedelta(minutes=10), hours=3)
        soonest = window(manager, app, start=NOON - dt.timedelta(minutes=1), hours=2)
        silence(manager, matchers=[{"name": "alertname", "op": "=", "value": "SomethingElse"}])
        am.post(load("firing"))
    fired = Incident.objects.get().timeline.get(kind=Kind.ALERT_FIRED)
    assert fired.data["maintenance_window"] == soonest.pk
    assert f"window #{soonest.pk}, until" in fired.text
    assert not SilencedAlert.objects.exists()


def test_before_and_after_the_window_pages_go_out(am, app, manager):
    with time_machine.travel(NOON, tick=False):
        window(manager, app, start=NOON + dt.timedelta(minutes=1))
        am.post(load("firing"))
    assert len(paged()) == 1
    assert "during maintenance" not in Incident.objects.get().timeline.get(kind=Kind.ALERT_FIRED).text


def test_a_cancelled_window_pages_again(am, app, manager):
    with time_machine.travel(NOON - dt.timedelta(minutes=30), tick=False):
        planned = window(manager, app, start=now())
        rules.cancel_window(planned, by=manager)
    with time_machine.travel(NOON, tick=False):
        am.post(load("firing"))
    assert len(paged()) == 1


def test_a_window_on_another_service_changes_nothing(am, app, manager):
    with time_machine.travel(NOON, tick=False):
        window(manager, ServiceFactory(name="Billing"), start=NOON - dt.timedelta(minutes=1))
        am.post(load("firing"))
    assert len(paged()) == 1


def test_the_dashboard_marks_incidents_during_maintenance(am, app, manager, clients):
    with time_machine.travel(NOON, tick=False):
        window(manager, app, start=NOON - dt.timedelta(minutes=10))
        am.post(load("firing"))
        html = clients["responder"].get("/").content.decode()
    assert "During maintenance" in html
    assert "Maintenance and silences" in html and "app until" in html
