"""GET /metrics: Prometheus text format, parsed with prometheus_client's own parser."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from incidents import workflow
from incidents.models import Incident, Notification
from incidents.tests.factories import make_incident


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def sample(families, name, **labels) -> float | None:
    for family in families.values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def test_it_counts_open_incidents_by_severity(client, reporter, responder):
    make_incident(by=reporter, severity=Incident.Severity.CRITICAL)
    make_incident(by=reporter, severity=Incident.Severity.CRITICAL)
    done = make_incident(by=reporter, severity=Incident.Severity.LOW)
    workflow.resolve(done, by=responder, summary="Fixed.", confirmed=True)

    families = scrape(client)

    assert sample(families, "beacon_open_incidents", severity="critical") == 2
    assert sample(families, "beacon_open_incidents", severity="low") == 0
    assert sample(families, "beacon_open_incidents", severity="medium") == 0
    assert sample(families, "beacon_metrics_database_up") == 1


def test_it_counts_undelivered_notifications_by_state(client, db):
    for n, state in enumerate(["pending", "pending", "sending", "failed", "sent", "sent"]):
        Notification.objects.create(
            event_key=f"e{n}",
            channel=Notification.Channel.EMAIL,
            recipient=f"r{n}@example.com",
            body_text="x",
            state=state,
        )

    families = scrape(client)

    assert sample(families, "beacon_notifications", state="pending") == 2
    assert sample(families, "beacon_notifications", state="sending") == 1
    assert sample(families, "beacon_notifications", state="failed") == 1
    assert sample(families, "beacon_notifications", state="sent") is None


def test_it_counts_requests_and_their_latency_by_url_name(client, db):
    before = sample(scrape(client), "beacon_http_requests_total", method="GET", view="healthz", status="200") or 0
    for _ in range(3):
        client.get("/healthz")
    client.get("/no-such-page/")

    families = scrape(client)

    assert sample(families, "beacon_http_requests_total", method="GET", view="healthz", status="200") == before + 3
    assert sample(families, "beacon_http_requests_total", method="GET", view="unmatched", status="404") >= 1
    count = sample(families, "beacon_http_request_duration_seconds_count", method="GET", view="healthz")
    assert count >= 3
    assert sample(families, "beacon_http_request_duration_seconds_bucket", method="GET", view="healthz", le="+Inf") == (
        count
    )


def test_raw_paths_never_become_labels(client, reporter):
    incident = make_incident(by=reporter)
    client.force_login(reporter)
    client.get(f"/incidents/{incident.ref}/")
    body = client.get("/metrics").content.decode()
    assert incident.ref not in body
    assert 'view="incidents:detail"' in body


def test_with_a_token_set_it_needs_the_token(client, db, settings):
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="s3cret-metrics").status_code == 401
    assert "beacon_open_incidents" in scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-metrics")


@pytest.mark.postgres_only
def test_a_database_failure_still_answers_with_database_up_zero(client, transactional_db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's lock timeout")
    import psycopg

    params = connection.get_connection_params()
    locker = psycopg.connect(**{k: v for k, v in params.items() if k in {"host", "port", "user", "dbname"}})
    try:
        locker.execute("LOCK TABLE incidents_incident IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        families = scrape(client)
    finally:
        locker.rollback()
        locker.close()
    assert sample(families, "beacon_metrics_database_up") == 0
    assert "beacon_open_incidents" not in families


def test_response_times_and_error_budgets(client, reporter, responder, manager, settings):
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    import time_machine

    from incidents.models import Service

    settings.TIME_ZONE = "UTC"
    start = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        one = make_incident(by=reporter, severity=Incident.Severity.CRITICAL, occurred_at=start - timedelta(minutes=30))
        two = make_incident(by=reporter, severity=Incident.Severity.CRITICAL, occurred_at=start)
        secret = make_incident(by=manager, severity=Incident.Severity.CRITICAL, occurred_at=start)
        workflow.restrict(secret, by=manager, reason="Customer data.")
        old = make_incident(by=reporter, severity=Incident.Severity.HIGH, occurred_at=start)
    for minutes, incident in ((4, one), (10, two), (1, secret)):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            workflow.acknowledge(incident, by=responder)
    with time_machine.travel(start + timedelta(minutes=60), tick=False):
        workflow.resolve(one, by=responder, summary="Fixed.", confirmed=True)
    Service.objects.filter(pk=one.service_id).update(availability_objective=Decimal("99.9"))
    Incident.objects.filter(pk=old.pk).update(reported_at=start - timedelta(days=40))
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        families = scrape(client)
    # Critical: acknowledged after 4 and 10 minutes (the restricted one is left out); one resolved in 60.
    assert sample(families, "beacon_mtta_seconds", severity="critical") == 7 * 60
    assert sample(families, "beacon_mttr_seconds", severity="critical") == 60 * 60
    # Reported 40 days ago: outside the 30-day window.
    assert sample(families, "beacon_mtta_seconds", severity="high") is None
    # June: 30 days, 0.1 % = 43.2 minutes. Critical x 1.0: one 30 + 60 min to its resolution, two 0 + 120
    # (not mitigated yet: until now), the old High one 120 x 0.5: 270 minutes burned.
    left = sample(families, "beacon_error_budget_left_ratio", service="checkout")
    assert left == pytest.approx(1 - 270 / 43.2)
