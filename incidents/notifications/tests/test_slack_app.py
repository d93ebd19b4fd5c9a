"""The Slack app channel through the outbox, against a fake Slack Web API on loopback: one
message per incident posted once and updated in place, retries and permanent failures."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

from datetime import timedelta

import pytest
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Notification, SlackMessage
from incidents.notifications import delivery
from incidents.slack.tests.support import CHANNEL, deliver_slack_app, slack_api  # noqa: F401
from incidents.tests.factories import make_incident


@pytest.fixture
def incident(reporter, slack_api):
    return make_incident(by=reporter, severity="critical")


def app_rows(incident):
    return Notification.objects.filter(incident=incident, channel="slack_app").order_by("pk")


def test_changes_shown_in_the_message_queue_an_update_and_notes_do_not(incident, responder):
    workflow.add_note(incident, by=responder, text="Looking at the logs.")
    workflow.post_update(incident, by=responder, message="Internal.", public=False)
    assert app_rows(incident).count() == 1  # the report only
    workflow.acknowledge(incident, by=responder)
    workflow.change_severity(incident, by=responder, severity="high")
    workflow.resolve(incident, by=responder, summary="Fixed.", confirmed=True)
    assert app_rows(incident).count() == 4
    assert {r.recipient for r in app_rows(incident)} == {f"message:{CHANNEL}"}


def test_one_message_is_posted_then_updated_with_the_current_state(incident, responder, slack_api):
    workflow.acknowledge(incident, by=responder)
    workflow.resolve(incident, by=responder, summary="Fixed.", confirmed=True)
    assert deliver_slack_app() == ["sent", "sent", "sent"]
    assert [c["method"] for c in slack_api.calls] == ["chat.postMessage", "chat.update", "chat.update"]
    first = slack_api.calls[0]["params"]
    # Rendered at send time: even the first post shows the current state.
    assert "Resolved" in str(first["blocks"]) and "Resolved" in first["text"]
    assert not [b for b in first["blocks"] if b["type"] == "actions" and len(b["elements"]) > 1]
    ts = SlackMessage.objects.get(incident=incident).ts
    assert {c["params"]["ts"] for c in slack_api.calls_to("chat.update")} == {ts}


def test_the_app_is_off_without_a_bot_token(settings, reporter):
    settings.SLACK_BOT_TOKEN = ""
    incident = make_incident(by=reporter)
    assert not app_rows(incident).exists()


def test_a_token_removed_since_fails_permanently(settings, incident):
    settings.SLACK_BOT_TOKEN = ""
    [row] = app_rows(incident)
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and "SLACK_BOT_TOKEN" in row.last_error


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "invalid_auth"])
def test_configuration_errors_fail_at_once(incident, slack_api, error):
    slack_api.answer("chat.postMessage", 200, {"ok": False, "error": error})
    [row] = app_rows(incident)
    assert delivery.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.permanent_error and error in row.last_error


def test_rate_limits_and_server_errors_are_retried(incident, slack_api):
    [row] = app_rows(incident)
    slack_api.answer("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "600"})
    assert delivery.deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert row.next_attempt_at >= now() + timedelta(seconds=590)  # Retry-After beats the 1 min backoff
    assert "429" in row.last_error
    slack_api.answer("chat.postMessage", 503, {"ok": False, "error": "service_unavailable"})
    row.next_attempt_at = now()
    row.save()
    assert delivery.deliver(row.pk) == "retry"
    # A failed first post left no ts: the next attempt posts, once.
    slack_api.server.answers.clear()
    row.next_attempt_at = now()
    row.save()
    assert delivery.deliver(row.pk) == "sent"
    assert SlackMessage.objects.get(incident=incident).ts


def test_a_deleted_message_is_posted_again(incident, responder, slack_api):
    deliver_slack_app()
    old = SlackMessage.objects.get(incident=incident).ts
    slack_api.answer("chat.update", 200, {"ok": False, "error": "message_not_found"})
    workflow.acknowledge(incident, by=responder)
    assert deliver_slack_app() == ["sent"]
    assert len(slack_api.calls_to("chat.postMessage")) == 2
    assert SlackMessage.objects.get(incident=incident).ts != old


def test_a_first_post_under_way_elsewhere_is_not_duplicated(incident, slack_api):
    # Another worker claimed the first post a moment ago and has no ts yet.
    SlackMessage.objects.create(incident=incident, channel=CHANNEL)
    [row] = app_rows(incident)
    assert delivery.deliver(row.pk) == "retry"
    assert slack_api.calls_to("chat.postMessage") == []
    # ...and died: after the lease another worker posts it.
    SlackMessage.objects.filter(incident=incident).update(claimed_at=now() - timedelta(minutes=3))
    row.refresh_from_db()
    row.next_attempt_at = now()
    row.save()
    assert delivery.deliver(row.pk) == "sent"
    assert len(slack_api.calls_to("chat.postMessage")) == 1


def test_an_unreachable_slack_is_transient(settings, incident):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # discard port: connection refused
    [row] = app_rows(incident)
    assert delivery.deliver(row.pk) == "retry"
