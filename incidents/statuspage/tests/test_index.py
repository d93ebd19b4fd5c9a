"""/status/: public services and their state, active public incidents, the last 14 days' resolved ones."""

from datetime import UTC, datetime

import pytest

from incidents import workflow
from incidents.models import Profile, StatusUpdate
from incidents.statuspage import projection as status_page
from incidents.statuspage.projection import ServiceState
from incidents.statuspage.tests.data import incident_in, move_back
from incidents.tests.factories import ServiceFactory


def states(response) -> dict[str, ServiceState]:
    return {s.name: s.state for s in response.context["overview"].services}


def test_it_needs_no_sign_in_and_may_be_cached_publicly_for_a_short_time(client, db):
    response = client.get("/status/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=30"


def test_it_uses_its_own_layout_without_navigation_scripts_or_tokens(clients, responder):
    incident_in("acknowledged", by=responder)
    for role in ["anonymous", "manager"]:
        response = clients[role].get("/status/")
        assert not response.cookies, "a publicly cached page must not set cookies"
        html = response.content.decode()
        assert "<script" not in html
        assert "Sign out" not in html and "Dashboard" not in html and 'href="/incidents/' not in html
        assert "csrf" not in html.lower()
        assert 'name="viewport"' in html
        assert "/static/vendor/bootstrap/css/bootstrap.min.css" in html


def test_it_derives_each_public_service_state_from_its_open_public_incidents(client, responder):
    quiet = ServiceFactory(name="Quiet")
    high = ServiceFactory(name="High")
    critical = ServiceFactory(name="Critical")
    mitigated = ServiceFactory(name="Mitigated critical")
    internal_only = ServiceFactory(name="Internal incident only")
    over = ServiceFactory(name="Resolved critical")
    low_and_critical = ServiceFactory(name="Low and critical")
    hidden = ServiceFactory(name="Hidden service", is_public=False)
    incident_in("acknowledged", by=responder, service=high, severity="high")
    incident_in("reported", by=responder, service=critical, severity="critical")
    incident_in("mitigated", by=responder, service=mitigated, severity="critical")
    incident_in("reported", by=responder, service=internal_only, severity="critical", public=False)
    incident_in("resolved", by=responder, service=over, severity="critical")
    incident_in("reported", by=responder, service=low_and_critical, severity="low")
    incident_in("acknowledged", by=responder, service=low_and_critical, severity="critical")
    incident_in("reported", by=responder, service=hidden, severity="critical")

    response = client.get("/status/")

    assert states(response) == {
        quiet.name: ServiceState.OPERATIONAL,
        high.name: ServiceState.DEGRADED,
        critical.name: ServiceState.MAJOR_OUTAGE,
        mitigated.name: ServiceState.DEGRADED,
        internal_only.name: ServiceState.OPERATIONAL,
        over.name: ServiceState.OPERATIONAL,
        low_and_critical.name: ServiceState.MAJOR_OUTAGE,
    }
    html = response.content.decode()
    assert "Hidden service" not in html
    assert "Major outage: some services are unavailable." in html
    assert html.count(">Major outage</span>") == 2


@pytest.mark.parametrize(
    "stage, severity, banner",
    [
        (None, None, "All services are operational."),
        ("reported", "low", "Some services are degraded."),
        ("mitigated", "critical", "Some services are degraded."),
        ("acknowledged", "critical", "Major outage: some services are unavailable."),
    ],
)
def test_the_banner_shows_the_worst_state(client, responder, stage, severity, banner):
    ServiceFactory(name="Search")
    if stage:
        incident_in(stage, by=responder, severity=severity)
    assert banner in client.get("/status/").content.decode()


def test_it_lists_active_public_incidents_with_their_public_updates_only(client, responder):
    incident = incident_in("acknowledged", by=responder, title="Payments fail")
    workflow.post_update(incident, by=responder, message="We are looking into failing payments.", public=True)
    workflow.post_update(incident, by=responder, message="Internal: blame the DBA.", public=False)
    incident_in("reported", by=responder, title="Nobody outside knows", public=False)
    back_office = ServiceFactory(name="Back office", is_public=False)
    incident_in("reported", by=responder, title="On a hidden service", service=back_office)

    response = client.get("/status/")

    active = response.context["overview"].active
    assert [i.title for i in active] == ["Payments fail"]
    assert [u.message for u in active[0].updates] == ["We are looking into failing payments."]
    html = response.content.decode()
    assert "We are looking into failing payments." in html
    assert "blame the DBA" not in html
    assert "Nobody outside knows" not in html and "On a hidden service" not in html
    assert f'href="/status/incidents/{incident.ref}/"' in html


@pytest.mark.parametrize(
    "stage, word",
    [("reported", "Investigating"), ("acknowledged", "Investigating"), ("mitigated", "Monitoring")],
)
def test_it_shows_the_status_in_status_page_words(client, responder, stage, word):
    incident_in(stage, by=responder)
    response = client.get("/status/")
    assert response.context["overview"].active[0].status == word
    assert f">{word}</span>" in response.content.decode()


@pytest.mark.parametrize(
    "severity, label",
    [
        ("critical", "Major impact"),
        ("high", "Significant impact"),
        ("medium", "Moderate impact"),
        ("low", "Minor impact"),
    ],
)
def test_it_shows_severity_as_impact_on_users(client, responder, severity, label):
    incident_in("reported", by=responder, severity=severity)
    html = client.get("/status/").content.decode()
    assert f">{label}</span>" in html
    assert ">Critical<" not in html and ">High<" not in html


def test_it_shows_the_newest_few_public_updates_per_active_incident(client, responder):
    incident = incident_in("acknowledged", by=responder)
    for n in range(1, 6):
        workflow.post_update(incident, by=responder, message=f"Public update number {n}.", public=True)

    response = client.get("/status/")

    shown = [u.message for u in response.context["overview"].active[0].updates]
    assert shown == ["Public update number 5.", "Public update number 4.", "Public update number 3."]
    assert "Public update number 2." not in response.content.decode()


def test_it_counts_active_incidents_beyond_those_it_shows(client, responder, monkeypatch):
    monkeypatch.setattr(status_page, "ACTIVE_LIMIT", 2)
    incident_in("reported", by=responder, severity="low", title="Least severe")
    incident_in("reported", by=responder, severity="critical", title="Most severe")
    incident_in("reported", by=responder, severity="high", title="Middle")

    response = client.get("/status/")

    assert [i.title for i in response.context["overview"].active] == ["Most severe", "Middle"]
    assert "3 incidents are active; the 2 most severe are shown." in response.content.decode()


def test_it_lists_public_incidents_resolved_in_the_last_14_days(client, responder, manager):
    recent = incident_in("resolved", by=responder, title="Resolved two days ago")
    move_back(recent, 2)
    closed = incident_in("closed", by=responder, closer=manager, title="Closed yesterday")
    move_back(closed, 1)
    old = incident_in("resolved", by=responder, title="Resolved three weeks ago")
    move_back(old, 21)
    incident_in("resolved", by=responder, title="Resolved but internal", public=False)

    response = client.get("/status/")

    resolved = response.context["overview"].resolved
    assert [i.title for i in resolved] == ["Closed yesterday", "Resolved two days ago"]
    assert all(i.status == "Resolved" for i in resolved)
    html = response.content.decode()
    assert "Resolved three weeks ago" not in html and "Resolved but internal" not in html
    assert response.context["overview"].active == []


def test_a_reopened_incident_is_active_again(client, responder):
    incident = incident_in("resolved", by=responder, title="Came back")
    workflow.reopen(incident, by=responder, reason="Errors again.")
    overview = client.get("/status/").context["overview"]
    assert [i.title for i in overview.active] == ["Came back"]
    assert overview.resolved == []


def test_times_are_in_the_site_time_zone_even_for_a_reader_with_their_own(clients, responder, viewer, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    Profile.objects.create(user=viewer, time_zone="Asia/Tokyo")
    incident = incident_in("acknowledged", by=responder, occurred_at=datetime(2026, 1, 15, 11, 0, tzinfo=UTC))
    update = workflow.post_update(incident, by=responder, message="Looking.", public=True)
    StatusUpdate.objects.filter(pk=update.pk).update(created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))

    for role in ["anonymous", "viewer"]:
        html = clients[role].get("/status/").content.decode()
        assert "15 Jan 2026, 12:00 CET" in html  # started, 11:00 UTC
        assert "15 Jan 2026, 13:00 CET" in html  # the update, 12:00 UTC
        assert "JST" not in html and "21:00" not in html
        assert "All times are in Europe/Berlin." in html


def test_it_answers_head_for_monitors_and_caches_and_refuses_writes(client, db):
    assert client.head("/status/").status_code == 200
    assert client.head("/status/feed.atom").status_code == 200
    assert client.post("/status/").status_code == 405


@pytest.mark.parametrize("count, truncated", [(1, False), (2, False), (3, True)])
def test_the_resolved_list_says_it_is_cut_only_when_more_than_its_limit_exist(responder, monkeypatch, count, truncated):
    monkeypatch.setattr(status_page, "RESOLVED_LIMIT", 2)
    for _ in range(count):
        incident_in("resolved", by=responder)
    overview = status_page.overview()
    assert len(overview.resolved) == min(count, 2)
    assert overview.resolved_truncated is truncated


def test_the_resolved_list_reaches_back_exactly_14_days(responder):
    inside = move_back(incident_in("resolved", by=responder, title="Thirteen and a half days ago"), 13.5)
    move_back(incident_in("resolved", by=responder, title="Fourteen and a half days ago"), 14.5)
    assert [i.ref for i in status_page.overview().resolved] == [inside.ref]
