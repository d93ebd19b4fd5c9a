"""On-call pages: calendar, rotation and override forms, service page, dashboard card, profile, iCalendar feed."""

import datetime as dt

import icalendar
import pytest
import time_machine

from incidents.models import Incident, Override, Profile, Rotation
from incidents.oncall.tests.data import give_calendar_token, make_override, make_rotation
from incidents.tests.factories import ServiceFactory, make_incident

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)  # other_responder on call in "Checkout primary"


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout")


@pytest.fixture
def rotation(checkout, responder, other_responder):
    return make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])


@pytest.fixture
def frozen():
    with time_machine.travel(NOON, tick=False):
        yield


# --- /oncall/ -------------------------------------------------------------------------------------


def test_calendar_shows_four_weeks_per_rotation_with_overrides(clients, rotation, manager, frozen):
    make_override(rotation, manager, NOON + dt.timedelta(days=2), NOON + dt.timedelta(days=2, hours=6))
    response = clients["viewer"].get("/oncall/")
    assert response.status_code == 200
    html = response.content.decode()
    (item,) = response.context["rotations"]
    assert len(item["weeks"]) == 4 and all(len(week) == 7 for week in item["weeks"])
    assert item["weeks"][0][0]["day"] == dt.date(2026, 1, 14)
    # Day 1: Rob until 09:00, then Ola.
    first = [(e["user"].username, e["from"]) for e in item["weeks"][0][0]["entries"]]
    assert first == [("rob", None), ("ola", dt.datetime(2026, 1, 14, 9, tzinfo=dt.UTC))]
    friday = [(e["user"].username, e["override"]) for e in item["weeks"][0][2]["entries"]]
    assert ("maya", True) in friday
    assert "Ola Oncall</strong>" in html and "until Thu 15 Jan 09:00" in html
    assert "New rotation" not in html and "Add override" not in html  # viewers only look


def test_calendar_queries_are_bounded(clients, django_assert_max_num_queries, checkout, users, frozen):
    people = [users["responder"], users["manager"]]
    for i in range(15):
        rotation = make_rotation(
            f"Rotation {i}", members=people, services=[ServiceFactory(name=f"S{i}")], shift_kind="hours", shift_hours=6
        )
        for day in range(5):
            start = NOON + dt.timedelta(days=day)
            make_override(rotation, users["manager"], start, start + dt.timedelta(hours=3))
    with django_assert_max_num_queries(9):
        response = clients["manager"].get("/oncall/")
    assert len(response.context["rotations"]) == 15


def test_calendar_empty(clients):
    assert "No rotations yet" in clients["manager"].get("/oncall/").content.decode()


# --- managers edit rotations ---------------------------------------------------------------------


def rotation_post(**overrides):
    data = {
        "name": "Search",
        "services": [],
        "shift_kind": "weekly",
        "shift_hours": "",
        "handoff_time": "09:00",
        "time_zone": "Europe/London",
        "start_date": "2026-01-05",
        "members": "rob\nola",
    }
    data.update(overrides)
    return data


def test_manager_creates_and_edits_a_rotation(clients, checkout, responder, other_responder):
    response = clients["manager"].post("/oncall/rotations/new/", rotation_post(services=[checkout.pk]))
    assert response.status_code == 302
    rotation = Rotation.objects.get(name="Search")
    assert response["Location"] == f"/oncall/#rotation-{rotation.pk}"
    assert [m.user for m in rotation.memberships.order_by("position")] == [responder, other_responder]
    assert list(rotation.services.all()) == [checkout]
    page = clients["manager"].get(f"/oncall/rotations/{rotation.pk}/edit/").content.decode()
    assert "rob\nola</textarea>" in page
    response = clients["manager"].post(
        f"/oncall/rotations/{rotation.pk}/edit/",
        rotation_post(members="ola, rob", shift_kind="hours", shift_hours="12", services=[checkout.pk]),
    )
    assert response.status_code == 302
    rotation.refresh_from_db()
    assert rotation.shift_hours == 12
    assert [m.user for m in rotation.memberships.order_by("position")] == [other_responder, responder]


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"name": ""}, "name", "This field is required."),
        ({"members": "rob\nrob"}, "members", "Each person may appear once in a rotation."),
        ({"members": "rob\nghost"}, "members", "Not an active responder: ghost."),
        ({"members": "vic"}, "members", "Not an active responder: vic."),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Choose an IANA time zone"),
        ({"start_date": "30/02/2026"}, "start_date", "Enter a date like 2026-11-30."),
        ({"handoff_time": "25:00"}, "handoff_time", "Enter a time like 09:00."),
        ({"shift_kind": "monthly"}, "shift_kind", "Select a valid choice."),
        ({"shift_kind": "hours", "shift_hours": ""}, "shift_hours", "Say how many hours one shift lasts."),
        ({"shift_kind": "hours", "shift_hours": "1000"}, "shift_hours", "between 1 and 672 hours"),
        ({"services": []}, "services", "or make it the default"),
        ({"services": ["999999"]}, "services", "999999 is not one of the available choices"),
        ({"name": "x" * 101}, "name", "at most 100 characters"),
        ({"members": "\n".join(f"p{i}" for i in range(101))}, "members", "at most 100 members"),
        ({"members": "rob;ola"}, "members", "Not an active responder: rob;ola."),
        ({"shift_kind": "hours", "shift_hours": "0"}, "shift_hours", "Say how many hours one shift lasts."),
        ({"shift_kind": "hours", "shift_hours": "twelve"}, "shift_hours", "Enter a whole number."),
        ({"handoff_time": ""}, "handoff_time", "This field is required."),
    ],
)
def test_bad_rotation_input_is_refused_with_a_clear_message(clients, checkout, viewer, change, field, message):
    data = rotation_post(services=[checkout.pk])
    data.update(change)
    response = clients["manager"].post("/oncall/rotations/new/", data)
    assert response.status_code == 422
    assert any(message in error for error in response.context["form"].errors[field]), response.context["form"].errors
    assert not Rotation.objects.exists()


def test_a_second_rotation_of_the_same_name_is_refused(clients, checkout, responder):
    make_rotation("Search", members=[responder], services=[checkout])
    response = clients["manager"].post("/oncall/rotations/new/", rotation_post(services=[checkout.pk]))
    assert response.status_code == 422
    assert response.context["form"].errors["name"] == ["Rotation with this Name already exists."]
    assert Rotation.objects.count() == 1


def test_unknown_rotations_and_overrides_are_404_and_removing_needs_a_post(clients, rotation, manager):
    assert clients["manager"].get(f"/oncall/rotations/{rotation.pk + 1}/edit/").status_code == 404
    assert clients["manager"].get(f"/oncall/rotations/{rotation.pk + 1}/overrides/new/").status_code == 404
    assert clients["manager"].post("/oncall/overrides/999999/delete/").status_code == 404
    override = make_override(rotation, manager, NOON, NOON + dt.timedelta(hours=1))
    assert clients["manager"].get(f"/oncall/overrides/{override.pk}/delete/").status_code == 405
    assert Override.objects.filter(pk=override.pk).exists()


def test_only_one_default_rotation(clients, manager):
    make_rotation("Everything", members=[manager], default=True)
    response = clients["manager"].post("/oncall/rotations/new/", rotation_post(is_default="on"))
    assert response.status_code == 422
    assert "“Everything” is already the default rotation" in response.content.decode()


# --- managers add and remove overrides ------------------------------------------------------------


def test_manager_adds_and_removes_an_override(clients, rotation, manager, responder, frozen):
    url = f"/oncall/rotations/{rotation.pk}/overrides/new/"
    data = {"user": manager.pk, "covered_user": responder.pk, "start": "2026-01-15 09:00", "end": "2026-01-15 17:00"}
    response = clients["manager"].post(url, {**data, "reason": "Dentist"})
    assert response.status_code == 302
    override = Override.objects.get()
    assert (override.user, override.covered_user, override.created_by) == (manager, responder, manager)
    assert override.start == dt.datetime(2026, 1, 15, 9, tzinfo=dt.UTC)
    assert "Dentist" in clients["manager"].get("/oncall/").content.decode()
    assert clients["manager"].post(f"/oncall/overrides/{override.pk}/delete/").status_code == 302
    assert not Override.objects.exists()


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"end": "2026-01-15 08:00"}, "end", "The end must be after the start."),
        ({"end": "2026-01-15 09:00"}, "end", "The end must be after the start."),
        ({"start": "2026-01-01 09:00", "end": "2026-01-02 09:00"}, "end", "This period is over already"),
        ({"end": "2026-06-15 09:00"}, "end", "at most 92 days"),
        ({"start": "yesterday"}, "start", "Enter a date and time like"),
        ({"user": "999999"}, "user", "Choose an active responder."),
        ({"user": "VIEWER"}, "user", "Choose an active responder."),
        ({"covered_user": "MANAGER"}, "covered_user", "Choose a member of this rotation."),
        ({"user": "ROB", "covered_user": "ROB"}, "covered_user", "Someone cannot cover for themselves."),
        ({"user": ""}, "user", "This field is required."),
        ({"end": ""}, "end", "This field is required."),
        ({"start": "2026-02-30 09:00"}, "start", "Enter a date and time like"),
        ({"reason": "x" * 201}, "reason", "at most 200 characters"),
    ],
)
def test_bad_override_input_is_refused(clients, rotation, manager, viewer, responder, frozen, change, field, message):
    data = {"user": manager.pk, "covered_user": "", "start": "2026-01-15 09:00", "end": "2026-01-15 17:00"}
    data.update(change)
    people = {"VIEWER": viewer.pk, "MANAGER": manager.pk, "ROB": responder.pk}
    data = {k: people.get(v, v) for k, v in data.items()}
    response = clients["manager"].post(f"/oncall/rotations/{rotation.pk}/overrides/new/", data)
    assert response.status_code == 422
    assert any(message in e for e in response.context["form"].errors[field]), response.context["form"].errors
    assert not Override.objects.exists()


def test_override_times_are_read_in_the_managers_time_zone(clients, rotation, manager, frozen):
    Profile.objects.create(user=manager, time_zone="America/New_York")
    url = f"/oncall/rotations/{rotation.pk}/overrides/new/"
    response = clients["manager"].post(
        url, {"user": manager.pk, "start": "2026-01-15 09:00", "end": "2026-01-15 17:00"}
    )
    assert response.status_code == 302
    assert Override.objects.get().start == dt.datetime(2026, 1, 15, 14, tzinfo=dt.UTC)


# --- the service page -----------------------------------------------------------------------------


def test_service_page_shows_description_on_call_and_open_incidents(clients, checkout, rotation, reporter, frozen):
    incident = make_incident(by=reporter, service=checkout)
    html = clients["reporter"].get("/services/checkout/").content.decode()
    assert "A service." in html
    assert "Ola Oncall</strong>" in html and "next: Rob Responder from Thu 15 Jan 09:00" in html
    assert incident.ref in html
    assert "/incidents/?open=true&amp;service=checkout" in html


def test_service_without_rotation(clients, reporter):
    ServiceFactory(name="Search")
    assert "No rotation answers for this service." in clients["viewer"].get("/services/search/").content.decode()


# --- the dashboard ----------------------------------------------------------------------------------


def test_dashboard_shows_who_is_on_call_per_service(clients, checkout, rotation, manager, frozen):
    ServiceFactory(name="Search")
    make_rotation("Everything", members=[manager], default=True)
    response = clients["viewer"].get("/")
    board = {service.name: answer for service, answer in response.context["on_call_board"]}
    assert board["Checkout"].user.username == "ola" and board["Checkout"].next.user.username == "rob"
    assert board["Search"].user.username == "maya" and board["Search"].current.open_end
    html = response.content.decode()
    assert 'data-service="search"' in html and "until further notice" in html


def test_dashboard_on_call_costs_the_same_for_many_incidents_and_services(
    clients, users, django_assert_max_num_queries, frozen
):
    people = [users["responder"], users["manager"]]
    services = [ServiceFactory(name=f"Service {i}") for i in range(30)]
    for i in range(10):
        make_rotation(f"R{i}", members=people, services=services[i * 3 : i * 3 + 3])
    for i in range(150):
        Incident.objects.create(
            title=f"Incident {i}",
            description="d",
            impact="i",
            occurred_at=NOON,
            severity="high",
            service=services[i % 30],
            lead=people[i % 2],
        )
    # The dashboard's own queries, plus five for on call: services, rotations, their services,
    # members, overrides; one for "my action items" (reviews); one for the incident types (the
    # type filter); one for "My roles" (none held here); two for the maintenance windows and
    # silences in force; one for who is in which team ("my teams", cached like the types: this
    # first request fills the cache); none per service or per incident.
    with django_assert_max_num_queries(20):
        response = clients["responder"].get("/")
    assert len(response.context["on_call_board"]) == 30
    assert len(response.context["incidents"]) == 100
    # The next dashboards read the board from the cache (paging.service_board): five queries fewer.
    with django_assert_max_num_queries(13):
        response = clients["responder"].get("/")
    assert len(response.context["on_call_board"]) == 30


def test_the_cached_board_follows_every_change_at_once(clients, checkout, rotation, manager, viewer, frozen):
    def on_call() -> dict[str, str | None]:
        board = clients["viewer"].get("/").context["on_call_board"]
        return {service.name: answer.user.username if answer and answer.user else None for service, answer in board}

    assert on_call() == {"Checkout": "ola"}
    # The clock alone: a handoff shows on time, from the same cached rotations.
    [(_, answer)] = clients["viewer"].get("/").context["on_call_board"]
    with time_machine.travel(answer.next.start + dt.timedelta(minutes=1), tick=False):
        assert on_call() == {"Checkout": "rob"}
    search = ServiceFactory(name="Search")  # a new service
    assert on_call() == {"Checkout": "ola", "Search": None}
    rotation.services.add(search)  # a rotation's services
    assert on_call() == {"Checkout": "ola", "Search": "ola"}
    override = make_override(rotation, manager, NOON - dt.timedelta(hours=1), NOON + dt.timedelta(hours=1))
    assert on_call() == {"Checkout": "maya", "Search": "maya"}
    override.delete()
    assert on_call() == {"Checkout": "ola", "Search": "ola"}
    rotation.memberships.filter(user__username="ola").delete()  # a member leaves
    assert on_call() == {"Checkout": "rob", "Search": "rob"}
    Rotation.objects.filter(pk=rotation.pk).first().delete()
    assert on_call() == {"Checkout": None, "Search": None}


# --- the profile ---------------------------------------------------------------------------------------


def test_profile_says_until_when_you_are_on_call(clients, rotation, frozen):
    html = clients["manager"].get("/accounts/profile/").content.decode()
    assert "You are in no on-call rotation." in html
    from django.test import Client

    ola = Client()
    ola.force_login(rotation.memberships.get(position=1).user)
    html = ola.get("/accounts/profile/").content.decode()
    assert "You are on call for Checkout primary until Thu 15 Jan 2026 09:00 UTC." in html
    rob = Client()
    rob.force_login(rotation.memberships.get(position=0).user)
    assert "your next shift starts Thu 15 Jan 2026 09:00 UTC" in rob.get("/accounts/profile/").content.decode()


def test_profile_saves_a_slack_member_id_and_refuses_a_bad_one(clients, responder):
    response = clients["responder"].post("/accounts/profile/", {"time_zone": "", "slack_member_id": "U024BE7LH"})
    assert response.status_code == 302
    assert Profile.objects.get(user=responder).slack_member_id == "U024BE7LH"
    for bad in ["@rob", "u024be7lh", "U0<script>", "U" + "A" * 40]:
        response = clients["responder"].post("/accounts/profile/", {"time_zone": "", "slack_member_id": bad})
        assert response.status_code == 422
        assert "A Slack member ID looks like U024BE7LH" in response.content.decode()
    assert Profile.objects.get(user=responder).slack_member_id == "U024BE7LH"


# --- the iCalendar feed --------------------------------------------------------------------------------


def test_calendar_address_is_created_regenerated_and_revoked_from_the_profile(clients, responder):
    assert "Create a calendar address" in clients["responder"].get("/accounts/profile/").content.decode()
    clients["responder"].post("/oncall/calendar/token/", {"action": "regenerate"})
    first = Profile.objects.get(user=responder).calendar_token
    assert len(first) >= 32
    html = clients["responder"].get("/accounts/profile/").content.decode()
    assert f"http://testserver/oncall/calendar/{first}.ics" in html
    assert clients["anonymous"].get(f"/oncall/calendar/{first}.ics").status_code == 200
    clients["responder"].post("/oncall/calendar/token/", {"action": "regenerate"})
    second = Profile.objects.get(user=responder).calendar_token
    assert second != first
    assert clients["anonymous"].get(f"/oncall/calendar/{first}.ics").status_code == 404
    clients["responder"].post("/oncall/calendar/token/", {"action": "revoke"})
    assert Profile.objects.get(user=responder).calendar_token == ""
    assert clients["anonymous"].get(f"/oncall/calendar/{second}.ics").status_code == 404
    response = clients["responder"].post("/oncall/calendar/token/", {"action": "steal"}, follow=True)
    assert "Choose to create a new calendar address" in response.content.decode()


def test_feed_is_valid_icalendar_with_the_users_shifts(client, checkout, responder, other_responder, manager, frozen):
    rotation = make_rotation(
        "Checkout, primary; EU", members=[responder, other_responder], services=[checkout], shift_kind="weekly"
    )
    make_override(rotation, manager, NOON + dt.timedelta(days=1), NOON + dt.timedelta(days=2))
    token = give_calendar_token(responder)
    response = client.get(f"/oncall/calendar/{token}.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    body = response.content
    assert body.count(b"\r\n") == body.count(b"\n")  # CRLF everywhere
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert b"SUMMARY:On call: Checkout\\, primary\\; EU" in body
    cal = icalendar.Calendar.from_ical(body)
    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    events = cal.walk("VEVENT")
    # Weekly from Monday 5 January, Rob first: his shifts in the next 8 weeks start 19 Jan, 2 Feb, ...
    starts = [e.decoded("DTSTART") for e in events]
    assert starts[0] == dt.datetime(2026, 1, 19, 9, tzinfo=dt.UTC)
    assert all(e.decoded("DTEND") - e.decoded("DTSTART") == dt.timedelta(days=7) for e in events)
    assert len(starts) == 4 and len({str(e["UID"]) for e in events}) == 4
    assert all(e.decoded("DTSTAMP") == NOON for e in events)

    # Renaming the rotation keeps each event's UID: calendar apps update the events, not duplicate them.
    rotation.name = "Checkout primary"
    rotation.save()
    renamed = icalendar.Calendar.from_ical(client.get(f"/oncall/calendar/{token}.ics").content).walk("VEVENT")
    assert [str(e["UID"]) for e in renamed] == [str(e["UID"]) for e in events]
    assert str(renamed[0]["SUMMARY"]) == "On call: Checkout primary"


def test_feed_shows_a_covering_override_and_hides_the_covered_time(client, checkout, rotation, manager, frozen):
    make_override(rotation, manager, NOON + dt.timedelta(hours=1), NOON + dt.timedelta(hours=3))
    token = give_calendar_token(manager)
    events = icalendar.Calendar.from_ical(client.get(f"/oncall/calendar/{token}.ics").content).walk("VEVENT")
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in events] == [
        (NOON + dt.timedelta(hours=1), NOON + dt.timedelta(hours=3))
    ]
    assert "(override)" in str(events[0]["SUMMARY"])


def test_feed_long_and_unicode_text_is_folded_within_75_octets(client, checkout, responder, frozen):
    make_rotation("Zürich Ølstue " * 7, members=[responder], services=[checkout])
    token = give_calendar_token(responder)
    body = client.get(f"/oncall/calendar/{token}.ics").content
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    body.decode("utf-8")  # never cut inside a character
    (event,) = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert str(event["SUMMARY"]) == "On call: " + "Zürich Ølstue " * 7


@pytest.mark.parametrize("token", ["short", "x" * 65, "a" * 40, "../../etc/passwd" + "a" * 30])
def test_feed_with_a_wrong_token_is_404(client, responder, token):
    give_calendar_token(responder)
    assert client.get(f"/oncall/calendar/{token}.ics").status_code == 404


def test_feed_of_a_deactivated_user_is_404(client, responder):
    token = give_calendar_token(responder)
    responder.is_active = False
    responder.save()
    assert client.get(f"/oncall/calendar/{token}.ics").status_code == 404


def test_seed_demo_adds_one_default_rotation_once(db, settings, client):
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", incidents=4)
    call_command("seed_demo", incidents=4)
    (rotation,) = Rotation.objects.all()
    assert rotation.is_default
    assert [m.user.username for m in rotation.memberships.order_by("position")] == ["responder", "manager"]
    # Through the sign-in page: django-axes wants the request that Client.login() does not pass.
    assert client.post("/accounts/login/", {"username": "viewer", "password": "beacon-demo"}).status_code == 302
    board = client.get("/").context["on_call_board"]
    assert board and all(answer.user.username in ("responder", "manager") for _, answer in board)


def test_hourly_shifts_fill_a_cell_with_a_few_names_and_a_count(clients, responder, manager, frozen):
    make_rotation("Hourly", members=[responder, manager], shift_kind="hours", shift_hours=1, default=True)
    response = clients["viewer"].get("/oncall/")
    cell = response.context["rotations"][0]["weeks"][0][1]
    assert len(cell["entries"]) == 6 and cell["more"] == 18
    assert "+18 more" in response.content.decode()


# --- the admin -------------------------------------------------------------------------------------


def admin_rotation_post(**changes):
    data = {
        "name": "Admin made",
        "services": [],
        "is_default": "on",
        "shift_kind": "weekly",
        "shift_hours": "",
        "handoff_time": "09:00:00",
        "time_zone": "Europe/Berlin",
        "start_date": "2026-01-05",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "0",
        "memberships-0-user": "ROB",
        "memberships-0-position": "0",
        "memberships-1-user": "OLA",
        "memberships-1-position": "1",
        "overrides-TOTAL_FORMS": "0",
        "overrides-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_manager_adds_a_rotation_in_the_admin(clients, responder, other_responder):
    data = admin_rotation_post(**{"memberships-0-user": responder.pk, "memberships-1-user": other_responder.pk})
    response = clients["manager"].post("/admin/incidents/rotation/add/", data)
    assert response.status_code == 302, response.context["errors"]
    rotation = Rotation.objects.get()
    assert rotation.is_default and rotation.time_zone == "Europe/Berlin"
    assert [m.user for m in rotation.memberships.order_by("position")] == [responder, other_responder]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"time_zone": "Europe/Atlantis"}, "is not an IANA time zone"),
        ({"shift_kind": "hours"}, "Say how many hours one shift lasts."),
        ({"memberships-1-position": "0"}, "Please correct the duplicate data for position"),
    ],
)
def test_admin_refuses_bad_rotations(clients, responder, other_responder, changes, message):
    data = admin_rotation_post(**{"memberships-0-user": responder.pk, "memberships-1-user": other_responder.pk})
    data.update(changes)
    response = clients["manager"].post("/admin/incidents/rotation/add/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Rotation.objects.exists()


def test_admin_refuses_an_override_ending_before_it_starts(clients, rotation, manager):
    data = {
        "rotation": rotation.pk,
        "user": manager.pk,
        "start_0": "2026-01-15",
        "start_1": "10:00:00",
        "end_0": "2026-01-15",
        "end_1": "09:00:00",
    }
    response = clients["manager"].post("/admin/incidents/override/add/", data)
    assert response.status_code == 200
    assert "The end must be after the start." in response.content.decode()
    assert not Override.objects.exists()


def test_the_kept_copies_hold_names_not_password_hashes_addresses_or_tokens(
    clients, checkout, rotation, manager, frozen
):
    # The board and the escalation policies live in the cache (Redis, when configured): a person in
    # them is a name to show; a page or a step that runs reads the rest from the database.
    from django.core.cache import cache

    from incidents import choices
    from incidents.models import EscalationStep, Profile
    from incidents.oncall import paging
    from incidents.oncall.tests.data import make_policy

    Profile.objects.filter(user=manager).update(calendar_token="secret-calendar-token", slack_member_id="U024BE7LH")
    make_override(rotation, manager, NOON - dt.timedelta(hours=1), NOON + dt.timedelta(hours=1))
    make_policy(steps=[{"target": EscalationStep.Target.USER, "user": manager}], services=[checkout])
    clients["viewer"].get("/")
    assert paging.policy_summary(checkout).steps.all()[0].user.pk == manager.pk
    kept = repr([cache.get(choices.KEY.format(name)) for name in (paging.BOARD_CACHE, paging.POLICIES_CACHE)])
    schedules = cache.get(choices.KEY.format(paging.BOARD_CACHE))[0]
    people = [*(u for s in schedules for u in s.members), *(c.user for s in schedules for c in s.overrides)]
    assert "maya" in {p.username for p in people}
    for person in people:
        assert {"password", "email"}.isdisjoint(vars(person)) and "profile" not in person._state.fields_cache
    assert manager.password not in kept and "secret-calendar-token" not in kept and "U024BE7LH" not in kept
    # The step's person still pages by the database: the email and the Slack id are read when asked.
    step_user = paging.policy_summary(checkout).steps.all()[0].user
    assert "password" not in vars(step_user) and step_user.email == manager.email
