"""The maintenance page: managers schedule and cancel windows, responders and managers silence
alerts; every bad input is refused with a message and writes nothing; the page costs the same
number of queries however many windows and silences there are."""

import datetime as dt

import pytest
import time_machine
from django.utils.timezone import now

from incidents.maintenance import rules
from incidents.maintenance.views import dashboard_context
from incidents.models import MaintenanceWindow, Silence, SilencedAlert
from incidents.tests.factories import ServiceFactory

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout")


def window_data(service, **changes) -> dict:
    data = {
        "services": [service.pk],
        "start": "2026-01-14T13:00",
        "end": "2026-01-14T14:00",
        "description": "Card payments pause for up to 10 minutes.",
    }
    return {**data, **changes}


def test_a_manager_schedules_a_window_and_cancels_it(clients, manager, checkout):
    client = clients["manager"]
    with time_machine.travel(NOON, tick=False):
        page = client.get("/maintenance/").content.decode()
        assert "Schedule maintenance" in page and "Add a silence" in page
        response = client.post("/maintenance/windows/", window_data(checkout))
        window = MaintenanceWindow.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/maintenance/#window-{window.pk}"
        assert (window.start, window.end, window.created_by) == (
            NOON + dt.timedelta(hours=1),
            NOON + dt.timedelta(hours=2),
            manager,
        )
        assert list(window.services.all()) == [checkout]
        page = client.get("/maintenance/").content.decode()
        assert "Card payments pause" in page and "Scheduled" in page
        assert client.post(f"/maintenance/windows/{window.pk}/cancel/").status_code == 302
        window.refresh_from_db()
        assert window.cancelled_by == manager
        again = client.post(f"/maintenance/windows/{window.pk}/cancel/", follow=True)
    assert f"Maintenance #{window.pk} was already cancelled." in again.content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"services": []}, "Choose at least one service."),
        ({"services": ["999999"]}, "Choose services from the list."),
        ({"end": "2026-01-14T12:30", "start": "2026-01-14T13:00"}, "The end must be after the start."),
        ({"start": "2026-01-14T09:00", "end": "2026-01-14T10:00"}, "This period is over already"),
        ({"end": "2026-03-14T10:00"}, "A window lasts at most 31 days."),
        ({"start": "tomorrow"}, "Enter a date and time like 2026-11-27 22:00."),
        ({"description": ""}, "This field is required."),
        ({"description": "bad\x00text"}, "Null characters are not allowed."),
    ],
)
def test_bad_windows_are_refused_with_a_message_and_nothing_written(clients, checkout, changes, message):
    with time_machine.travel(NOON, tick=False):
        response = clients["manager"].post("/maintenance/windows/", window_data(checkout, **changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_a_responder_silences_alerts_and_lifts_the_silence(clients, responder):
    client = clients["responder"]
    page = client.get("/maintenance/").content.decode()
    assert "Add a silence" in page and "Schedule maintenance" not in page
    with time_machine.travel(NOON, tick=False):
        response = client.post(
            "/maintenance/silences/", {"matchers": 'alertname="Down"\ninstance=~"web-.*"', "hours": "4", "comment": ""}
        )
        silence = Silence.objects.get()
        assert response.status_code == 302
        assert silence.expires_at == NOON + dt.timedelta(hours=4) and silence.created_by == responder
        assert (
            "alertname=&quot;Down&quot;, instance=~&quot;web-.*&quot;" in client.get("/maintenance/").content.decode()
        )
        assert client.post(f"/maintenance/silences/{silence.pk}/cancel/").status_code == 302
    silence.refresh_from_db()
    assert silence.cancelled_by == responder


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"matchers": 'instance=~"web-("', "hours": "2"}, "is not a valid regular expression"),
        ({"matchers": 'env!="prod"', "hours": "2"}, "this silence would silence every alert"),
        ({"matchers": "alertname", "hours": "2"}, "is not a matcher"),
        ({"matchers": "alertname=Down", "hours": "7"}, "Choose a duration."),
        ({"matchers": "alertname=Down", "hours": "2", "comment": "x\x00"}, "Null characters are not allowed."),
    ],
)
def test_bad_silences_are_refused_with_a_message_and_nothing_written(clients, data, message):
    response = clients["manager"].post("/maintenance/silences/", data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Silence.objects.exists()


def test_viewers_read_the_page_without_forms(clients, manager, checkout):
    rules.schedule_window(
        by=manager, services=[checkout], start=now(), end=now() + dt.timedelta(hours=1), description="Upgrade"
    )
    page = clients["viewer"].get("/maintenance/").content.decode()
    assert "Upgrade" in page
    assert "Schedule maintenance" not in page and "Add a silence" not in page and "Cancel maintenance" not in page


def test_the_page_runs_a_fixed_number_of_queries(clients, manager, django_assert_max_num_queries):
    services = [ServiceFactory(name=f"S{i}") for i in range(30)]
    start = now()
    for i in range(60):
        window = rules.schedule_window(
            by=manager,
            services=services[i % 10 : i % 10 + 5],
            start=start + dt.timedelta(hours=i - 30),
            end=start + dt.timedelta(hours=i - 29),
            description=f"Window {i}",
        )
    for i in range(60):
        silence = rules.create_silence(
            by=manager,
            matchers=[{"name": "alertname", "op": "=", "value": f"A{i}"}],
            starts_at=start - dt.timedelta(hours=40),
            expires_at=start + dt.timedelta(hours=i - 30),
        )
        SilencedAlert.objects.create(silence=silence, fingerprint=f"f{i}", starts_at=start, status="firing")
    client = clients["manager"]
    client.get("/maintenance/")
    with django_assert_max_num_queries(14):
        response = client.get("/maintenance/")
    assert len(response.context["windows"]) == 30 and len(response.context["past_windows"]) == 20
    assert len(response.context["silences"]) == 29 and len(response.context["past_silences"]) == 20
    assert window.pk  # (the last one made is among the current ones)
    with django_assert_max_num_queries(17):
        dashboard = client.get("/")
    assert len(dashboard.context["maintenance_windows"]) == 1
    assert len(dashboard.context["active_silences"]) == 29


def test_windows_and_silences_made_and_cancelled_on_the_pages_are_in_the_audit_log(clients, manager, checkout):
    from auditlog.models import LogEntry

    client = clients["manager"]
    with time_machine.travel(NOON, tick=False):
        client.post("/maintenance/windows/", window_data(checkout))
        window = MaintenanceWindow.objects.get()
        client.post(f"/maintenance/windows/{window.pk}/cancel/")
        client.post("/maintenance/silences/", {"matchers": "alertname=Down", "hours": "2"})
        silence = Silence.objects.get()
        client.post(f"/maintenance/silences/{silence.pk}/cancel/")
    for obj in (window, silence):
        entries = list(LogEntry.objects.get_for_object(obj).order_by("timestamp", "pk"))
        assert [e.action for e in entries][:1] == [LogEntry.Action.CREATE]
        assert any("cancelled_at" in (e.changes_dict or {}) for e in entries), entries
        assert {e.actor for e in entries} == {manager}


def test_the_dashboard_card_is_kept_but_never_behind_a_change_or_the_clock(
    clients, manager, responder, checkout, django_assert_max_num_queries
):
    client = clients["responder"]
    with time_machine.travel(NOON, tick=False):
        window = rules.schedule_window(
            by=manager,
            services=[checkout],
            start=NOON + dt.timedelta(hours=1),
            end=NOON + dt.timedelta(hours=2),
            description="Card payments pause.",
        )
        assert "maintenance-now" not in client.get("/").content.decode()  # nothing in force: no card
        with django_assert_max_num_queries(0):  # the card's windows and silences come from the cache
            assert dashboard_context()["maintenance_windows"] == []
        # A silence made now is on the next dashboard: the change drops the kept copy.
        silence = rules.create_silence(
            by=responder,
            matchers=[{"name": "alertname", "op": "=", "value": "DiskFilling"}],
            expires_at=NOON + dt.timedelta(hours=2),
            comment="disk swap",
        )
        assert [s.pk for s in dashboard_context()["active_silences"]] == [silence.pk]
        assert "maintenance-now" in client.get("/").content.decode()
    # The window begins at 13:00 with no change to any row: the kept copy is read by the clock.
    with time_machine.travel(NOON + dt.timedelta(hours=1, minutes=1), tick=False):
        shown = dashboard_context()
        assert [w["window"].pk for w in shown["maintenance_windows"]] == [window.pk]
        assert shown["maintenance_services"] == {checkout.pk}
    # Cancelled: gone at once.
    with time_machine.travel(NOON + dt.timedelta(hours=1, minutes=2), tick=False):
        rules.cancel_window(window, by=manager)
        assert dashboard_context()["maintenance_windows"] == []
