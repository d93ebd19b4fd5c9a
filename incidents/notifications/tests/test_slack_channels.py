"""A Slack channel per Critical/High incident (SLACK_INCIDENT_CHANNELS), against a fake Web API:
created by the first delivery with the lead invited, each timeline change posted, archived on close."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import pytest

from incidents import workflow
from incidents.models import Notification, Profile, SlackChannel
from incidents.slack.tests.support import deliver_slack_app, slack_api  # noqa: F401
from incidents.tests.factories import make_incident


@pytest.fixture
def channels(settings, slack_api):
    settings.SLACK_INCIDENT_CHANNELS = True
    return slack_api


def channel_rows(incident):
    return Notification.objects.filter(incident=incident, recipient=f"incident-channel:{incident.pk}").order_by("pk")


def test_a_critical_incident_gets_a_channel_with_its_lead_and_every_change(channels, reporter, responder, manager):
    Profile.objects.create(user=responder, slack_member_id="U0RESPONDER")
    incident = make_incident(by=reporter, severity="critical", title="Checkout is DOWN!")
    workflow.take(incident, by=responder)
    workflow.add_note(incident, by=responder, text="Rolling back.")
    workflow.resolve(incident, by=responder, summary="Rolled back.", confirmed=True)
    workflow.close(incident, by=manager)
    assert channel_rows(incident).count() == 5
    assert set(deliver_slack_app()) == {"sent"}

    [created] = channels.calls_to("conversations.create")
    assert created["params"]["name"] == f"inc-{incident.pk}-checkout-is-down"
    channel = SlackChannel.objects.get(incident=incident)
    assert channel.channel_id and channel.archived_at is not None
    # The lead is invited when the channel is made (it is made from the current state) and when
    # they take the lead (Slack answers already_in_channel, which is fine).
    invites = channels.calls_to("conversations.invite")
    assert invites and {(c["params"]["channel"], c["params"]["users"]) for c in invites} == {
        (channel.channel_id, "U0RESPONDER")
    }
    posts = [c["params"] for c in channels.calls_to("chat.postMessage") if c["params"]["channel"] == channel.channel_id]
    texts = [p["text"] for p in posts]
    assert len(texts) == 5
    assert texts[0].startswith("*New incident* — Rita Reporter")
    assert "Rolling back." in texts[2]
    assert [c["params"] for c in channels.calls_to("conversations.archive")] == [{"channel": channel.channel_id}]


def test_medium_and_low_incidents_get_no_channel(channels, reporter):
    incident = make_incident(by=reporter, severity="medium")
    assert not channel_rows(incident).exists()


def test_a_raise_to_high_starts_the_channel_and_it_stays_after_a_lowering(channels, reporter, responder):
    incident = make_incident(by=reporter, severity="medium")
    workflow.change_severity(incident, by=responder, severity="high")
    deliver_slack_app()
    workflow.change_severity(incident, by=responder, severity="low")
    assert channel_rows(incident).count() == 2
    deliver_slack_app()
    assert len(channels.calls_to("conversations.create")) == 1


def test_off_by_default(settings, slack_api, reporter):
    assert settings.SLACK_INCIDENT_CHANNELS is False
    incident = make_incident(by=reporter, severity="critical")
    assert not channel_rows(incident).exists()


def test_a_failed_creation_is_retried_and_creates_one_channel(channels, reporter):
    incident = make_incident(by=reporter, severity="critical")
    channels.answer("conversations.create", 500, {"ok": False, "error": "internal_error"})
    [row] = channel_rows(incident)
    assert deliver_slack_app() == ["retry", "sent"]  # the channel, then the incident message
    assert not SlackChannel.objects.exists()
    channels.server.answers.clear()
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
    assert deliver_slack_app() == ["sent"]
    assert len(channels.calls_to("conversations.create")) == 2 and SlackChannel.objects.get().channel_id


def test_a_name_already_taken_fails_the_row_with_a_clear_error(channels, reporter):
    incident = make_incident(by=reporter, severity="critical")
    channels.answer("conversations.create", 200, {"ok": False, "error": "name_taken"})
    deliver_slack_app()
    row = channel_rows(incident).get()
    assert row.state == "failed" and row.permanent_error and "name_taken" in row.last_error


def test_the_channel_hears_each_task_added_given_and_ticked_by_name(channels, reporter, responder, other_responder):
    incident = make_incident(by=reporter, severity="critical")
    task = workflow.add_task(incident, by=responder, title="Write the review")
    workflow.assign_task(incident, by=responder, task=task, user=other_responder)
    workflow.tick_task(incident, by=other_responder, task=task, done=True)
    lines = [row.body_text.split(" — ", 1)[0] for row in channel_rows(incident).filter(entry__kind="task")]
    assert lines == [
        "*Task added: Write the review*",
        "*Task for Ola Oncall: Write the review*",
        "*Task ticked: Write the review*",
    ]
