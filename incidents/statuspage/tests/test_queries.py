"""The status pages do a fixed, small number of queries however much there is to show."""

from datetime import timedelta

import pytest
from django.utils.timezone import now

from incidents.models import Incident, MaintenanceWindow, Service, Severity, Status, StatusUpdate
from incidents.statuspage import projection as status_page

STAGES = [Status.REPORTED, Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED, Status.CLOSED]


@pytest.fixture
def big_world(db, responder):
    """50 services (5 hidden), 500 incidents (most public) across every status, 4 updates each.

    Built with bulk_create: the workflow would take minutes for this volume, and what is
    measured here is reading, not writing. Timestamps respect the model's constraints.
    """
    services = Service.objects.bulk_create(
        Service(name=f"Service {n:02}", slug=f"service-{n:02}", is_public=n % 10 != 9) for n in range(50)
    )
    current = now()
    incidents = []
    for n in range(500):
        status = STAGES[n % 5]
        reported = current - timedelta(days=n % 30, hours=1)
        resolved = reported + timedelta(minutes=30) if status in (Status.RESOLVED, Status.CLOSED) else None
        incidents.append(
            Incident(
                title=f"Incident {n}",
                description="internal",
                impact="internal",
                occurred_at=reported - timedelta(minutes=5),
                reported_at=reported,
                resolved_at=resolved,
                severity=list(Severity)[n % 4],
                status=status,
                service=services[n % 50],
                reporter=responder,
                public=n % 7 != 0,
            )
        )
    incidents = Incident.objects.bulk_create(incidents)
    StatusUpdate.objects.bulk_create(
        StatusUpdate(
            incident=incident,
            author=responder,
            message=f"Update {k} on {incident.title}",
            public=k % 2 == 0,
            created_at=incident.reported_at + timedelta(minutes=k),
        )
        for incident in incidents
        for k in range(4)
    )
    # Maintenance: 30 windows in progress or to come over several services each, hidden ones among them.
    for n in range(30):
        window = MaintenanceWindow.objects.create(
            start=current + timedelta(hours=n - 5), end=current + timedelta(hours=n - 4), description=f"Upgrade {n}"
        )
        window.services.set(services[n : n + 4])
    return incidents


def test_the_overview_is_six_queries_then_one_while_nothing_changes(client, big_world, django_assert_max_num_queries):
    # Six for the page (two of them the month's availability), two for maintenance (the windows,
    # their public services), one for the status page generation (incidents/statuspage/cache.py).
    with django_assert_max_num_queries(9):
        response = client.get("/status/")
    assert response.status_code == 200
    with django_assert_max_num_queries(1):
        assert client.get("/status/").content == response.content

    # 25 windows not over yet, the first 20 shown, soonest first, each with its public services only.
    shown = response.context["maintenance"]
    assert len(shown) == 20 and shown[0].description == "Upgrade 5"
    assert all("Service 09" not in w.services for w in shown)
    overview = response.context["overview"]
    expected_active = Incident.objects.public().open().count()
    assert expected_active > status_page.ACTIVE_LIMIT  # the bound is really exercised
    assert overview.active_total == expected_active
    assert len(overview.active) == 50  # "at most 50": docs/status-page.md
    assert len(overview.services) == 45
    assert len(overview.resolved) == 50 and overview.resolved_truncated  # "at most 50": docs/status-page.md
    for incident in overview.active:
        assert len(incident.updates) == 2  # the two public of four
        assert all(u.message.startswith(("Update 0", "Update 2")) for u in incident.updates)


def test_a_signed_in_reader_costs_only_the_session_and_user(clients, big_world, django_assert_max_num_queries):
    # The anonymous reader's nine, and the session and user.
    with django_assert_max_num_queries(11):
        assert clients["viewer"].get("/status/").status_code == 200
    with django_assert_max_num_queries(4):
        assert clients["viewer"].get("/status/").status_code == 200


def test_an_incident_page_is_three_queries_then_one(client, big_world, django_assert_max_num_queries):
    ref = Incident.objects.public().order_by("pk").first().ref
    # The generation, the incident, its public updates, and its public post-mortem (reviews' provider).
    with django_assert_max_num_queries(4):
        assert client.get(f"/status/incidents/{ref}/").status_code == 200
    with django_assert_max_num_queries(1):
        assert client.get(f"/status/incidents/{ref}/").status_code == 200


def test_the_feed_is_one_query_then_none_but_the_generation(client, big_world, django_assert_max_num_queries):
    # The updates, the maintenance windows and their public services, and the generation.
    with django_assert_max_num_queries(4):
        response = client.get("/status/feed.atom")
    assert response.content.count(b"<entry>") == 50  # the number docs/status-page.md promises
    assert response.content.count(b"Scheduled maintenance") > 0
    with django_assert_max_num_queries(1):
        assert client.get("/status/feed.atom").content == response.content
