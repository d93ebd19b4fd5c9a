"""Slack through the outbox against a local stand-in receiver: payloads, retries, permanent errors."""

from datetime import timedelta

import pytest
import time_machine
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Notification
from incidents.notifications import delivery
from incidents.tests.factories import make_incident
from incidents.tests.standins import SlackStandIn

PORT = 19210


@pytest.fixture
def slack(settings):
    with SlackStandIn(PORT) as stand_in:
        settings.SLACK_WEBHOOK_URL = stand_in.url
        yield stand_in


@pytest.fixture
def row(slack, reporter):
    incident = make_incident(by=reporter, severity="critical")
    return Notification.objects.get(incident=incident, channel="slack")


def test_it_posts_reference_title_severity_status_link_and_event_number(settings, slack, row):
    settings.SITE_URL = "https://beacon.example.com"
    assert delivery.deliver(row.pk) == "sent"
    [request] = slack.requests
    assert request["path"] == "/services/T/B/X"
    text = request["body"]["text"]
    ref = row.incident.ref
    assert f"{ref}>" in text and "Checkout is down" in text and "Critical" in text and "Reported" in text
    assert f"event {row.entry_id}" in text
    assert f"http://127.0.0.1:8000/incidents/{ref}/" in text  # rendered when the event happened
    row.refresh_from_db()
    assert (row.state, row.attempts, row.sent_at is not None) == ("sent", 1, True)


def test_a_sent_row_is_never_sent_again(slack, row):
    assert delivery.deliver(row.pk) == "sent"
    assert delivery.deliver(row.pk) == "skipped"
    assert len(slack.requests) == 1


@pytest.mark.parametrize("mode", ["500", "close"])
def test_server_errors_and_dropped_connections_are_retried_with_backoff(slack, row, mode):
    slack.set_mode(mode)
    start = now()
    with time_machine.travel(start, tick=False) as clock:
        for attempt, minutes in enumerate([1, 5, 15, 60], start=1):
            assert delivery.deliver(row.pk) == "retry"
            row.refresh_from_db()
            assert (row.state, row.attempts) == ("pending", attempt)
            assert row.next_attempt_at == now() + timedelta(minutes=minutes)
            assert delivery.deliver(row.pk) == "skipped"  # not due yet
            clock.shift(timedelta(minutes=minutes))
        assert delivery.deliver(row.pk) == "failed"  # the fifth attempt was the last
    row.refresh_from_db()
    assert (row.state, row.permanent_error, row.attempts) == ("failed", False, 5)
    assert row.last_error


def test_429_waits_at_least_retry_after(slack, row):
    slack.set_mode("429")
    with time_machine.travel(now(), tick=False):
        assert delivery.deliver(row.pk) == "retry"
        row.refresh_from_db()
        assert row.next_attempt_at == now() + timedelta(minutes=1)  # backoff 60 s > Retry-After 3 s
        assert "429" in row.last_error


@pytest.mark.parametrize(
    "mode, body", [("404", "no_service"), ("410", "channel_is_archived"), ("400", "invalid_payload")]
)
def test_gone_webhooks_fail_at_once_and_permanently(slack, row, mode, body):
    slack.set_mode(mode)
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.state, row.permanent_error, row.attempts) == ("failed", True, 1)
    assert mode in row.last_error and body in row.last_error


def test_a_timeout_is_transient(slack, row, monkeypatch):
    from incidents.notifications import transports

    monkeypatch.setattr(transports, "HTTP_TIMEOUT", 0.2)
    slack.set_mode("sleep:1")
    assert delivery.deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert "timed out" in row.last_error.lower()


def test_the_service_webhook_is_used_for_its_destination(settings, slack, reporter):
    from incidents.tests.factories import ServiceFactory

    settings.SLACK_WEBHOOK_URL = ""
    service = ServiceFactory(name="Search", slack_webhook_url=f"http://127.0.0.1:{PORT}/services/search")
    incident = make_incident(by=reporter, service=service)
    [row] = Notification.objects.filter(incident=incident, channel="slack")
    assert row.recipient == f"service:{service.pk}"
    assert delivery.deliver(row.pk) == "sent"
    assert slack.requests[0]["path"] == "/services/search"


def test_a_webhook_removed_since_fails_permanently(settings, slack, row):
    settings.SLACK_WEBHOOK_URL = ""
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "no Slack webhook" in row.last_error


def test_public_updates_reach_slack_internal_ones_do_not(slack, row, responder):
    incident = row.incident
    workflow.post_update(incident, by=responder, message="internal words", public=False)
    workflow.post_update(incident, by=responder, message="public words", public=True)
    texts = list(Notification.objects.filter(incident=incident, channel="slack").values_list("body_text", flat=True))
    assert any("public words" in t for t in texts)
    assert not any("internal words" in t for t in texts)
