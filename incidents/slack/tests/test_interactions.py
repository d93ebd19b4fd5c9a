"""Slack's requests, signed in the test, against a fake Web API on loopback: signatures and
replays refused with nothing written, Slack members acting as their Beacon user with that
user's permissions, the incident message updated in place."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import json
import time

import pytest

from incidents.models import Incident, Notification, SlackMessage, Status, TimelineEntry
from incidents.notifications import slackapp
from incidents.slack.tests.support import (
    CHANNEL,
    COMMANDS,
    INTERACTIONS,
    MEMBERS,
    button,
    command,
    deliver_slack_app,
    interaction,
    link,
    signed_post,
    slack_api,  # noqa: F401
)
from incidents.tests.factories import make_incident


@pytest.fixture
def incident(reporter, slack_api):
    return make_incident(by=reporter, severity="critical")


@pytest.fixture
def linked(reporter, responder, viewer, manager):
    link({"reporter": reporter, "responder": responder, "viewer": viewer, "manager": manager})


def snapshot() -> tuple[int, int, int, list]:
    return (
        Incident.objects.count(),
        TimelineEntry.objects.count(),
        Notification.objects.count(),
        list(Incident.objects.values_list("status", "lead_id")),
    )


# --- the signature ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [INTERACTIONS, COMMANDS])
def test_a_bad_signature_is_refused_and_nothing_is_written(url, incident, linked):
    before = snapshot()
    body = (
        "payload=" + json.dumps(button(slackapp.ACK, incident.ref))
        if url == INTERACTIONS
        else f"text=ack+{incident.ref}&user_id={MEMBERS['responder']}"
    )
    response = signed_post(url, body, secret="not-the-signing-secret")
    assert response.status_code == 401
    assert "not signed by Slack" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("url", [INTERACTIONS, COMMANDS])
def test_a_stale_timestamp_is_refused_even_when_signed(url, incident, linked):
    before = snapshot()
    six_minutes_ago = int(time.time()) - 6 * 60
    if url == INTERACTIONS:
        response = interaction(button(slackapp.ACK, incident.ref), timestamp=six_minutes_ago)
    else:
        response = command(f"ack {incident.ref}", timestamp=six_minutes_ago)
    assert response.status_code == 401
    assert snapshot() == before


def test_a_request_four_minutes_old_is_still_accepted(incident, linked, slack_api):
    response = command(f"ack {incident.ref}", timestamp=int(time.time()) - 4 * 60)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_SLACK_REQUEST_TIMESTAMP": "not-a-number"},
        {"HTTP_X_SLACK_SIGNATURE": ""},
    ],
)
def test_missing_or_malformed_signature_headers_are_refused(headers, incident, linked):
    before = snapshot()
    response = signed_post(COMMANDS, f"text=ack+{incident.ref}&user_id={MEMBERS['responder']}", **headers)
    assert response.status_code == 401
    assert snapshot() == before


def test_without_a_signing_secret_the_endpoints_are_off(settings, incident):
    settings.SLACK_SIGNING_SECRET = ""
    response = signed_post(COMMANDS, "text=open", secret="anything")
    assert response.status_code == 404
    assert "SLACK_SIGNING_SECRET" in response.content.decode()


def test_get_is_not_allowed(client):
    assert client.get(INTERACTIONS).status_code == 405


def test_a_payload_that_is_not_json_is_a_clear_400(linked):
    response = signed_post(INTERACTIONS, "payload=%7Bnot+json")
    assert response.status_code == 400
    assert "payload" in response.content.decode()


# --- who the Slack member is -------------------------------------------------------------


def test_an_unknown_slack_user_is_told_how_to_link_and_nothing_changes(incident, slack_api):
    before = snapshot()
    response = interaction(button(slackapp.ACK, incident.ref, member="U0STRANGER"))
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED and incident.lead is None
    assert TimelineEntry.objects.count() == before[1]
    [reply] = Notification.objects.filter(channel="slack_app", recipient=f"ephemeral:{CHANNEL}:U0STRANGER")
    assert "not linked" in reply.body_text and "/accounts/profile/" in reply.body_text
    assert "U0STRANGER" in reply.body_text
    assert deliver_slack_app()[-1] == "sent"
    [sent] = slack_api.calls_to("chat.postEphemeral")
    assert sent["params"]["user"] == "U0STRANGER" and "not linked" in sent["params"]["text"]


def test_an_unknown_slack_user_gets_the_same_answer_to_a_command(incident):
    before = snapshot()
    response = command(f"ack {incident.ref}", member="U0STRANGER")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral" and "not linked" in body["text"]
    assert snapshot() == before


def test_a_deactivated_users_slack_account_acts_for_nobody(incident, linked, responder):
    responder.is_active = False
    responder.save()
    response = command(f"ack {incident.ref}")
    assert "not linked to an active Beacon account" in response.json()["text"]
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED


# --- buttons ------------------------------------------------------------------------------


def test_the_incident_message_carries_the_buttons(incident, slack_api):
    assert deliver_slack_app() == ["sent"]
    [post] = slack_api.calls_to("chat.postMessage")
    assert post["token"] == "Bearer xoxb-test-only"
    assert post["params"]["channel"] == CHANNEL
    [actions] = [b for b in post["params"]["blocks"] if b["type"] == "actions"]
    assert [(e["text"]["text"], e.get("value")) for e in actions["elements"]] == [
        ("Acknowledge", incident.ref),
        ("Take", incident.ref),
        ("Open in Beacon", None),
    ]
    assert actions["elements"][2]["url"] == f"http://127.0.0.1:8000/incidents/{incident.ref}/"
    message = SlackMessage.objects.get(incident=incident)
    assert (message.channel, message.ts) == (CHANNEL, post["params"].get("ts") or message.ts)
    assert message.ts


def test_acknowledge_makes_one_entry_and_updates_the_message_in_place(incident, linked, responder, slack_api):
    deliver_slack_app()
    ts = SlackMessage.objects.get(incident=incident).ts
    entries = incident.timeline.count()
    started = time.monotonic()
    response = interaction(button(slackapp.ACK, incident.ref))
    assert time.monotonic() - started < 3  # Slack's limit
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED and incident.lead == responder
    assert incident.timeline.count() == entries + 1
    entry = incident.timeline.latest("pk")
    assert (entry.kind, entry.author, entry.data["via"]) == ("status_change", responder, "slack")
    assert deliver_slack_app() == ["sent"]
    [update] = slack_api.calls_to("chat.update")
    assert (update["params"]["channel"], update["params"]["ts"]) == (CHANNEL, ts)
    labels = [e["text"]["text"] for b in update["params"]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Take", "Open in Beacon"]  # acknowledged: no Acknowledge button any more
    assert "Acknowledged" in json.dumps(update["params"]["blocks"])
    assert len(slack_api.calls_to("chat.postMessage")) == 1


def test_a_viewers_acknowledge_is_refused_with_a_message(incident, linked, slack_api):
    before = snapshot()
    response = interaction(button(slackapp.ACK, incident.ref, member=MEMBERS["viewer"]))
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED and incident.lead is None
    assert TimelineEntry.objects.count() == before[1]
    [reply] = Notification.objects.filter(recipient=f"ephemeral:{CHANNEL}:{MEMBERS['viewer']}")
    assert (
        reply.body_text
        == f"Your Beacon role (Viewer) does not allow you to acknowledge incidents, so {incident.ref} is unchanged."
    )


def test_a_reporters_take_is_refused_as_on_the_web(incident, linked):
    interaction(button(slackapp.TAKE, incident.ref, member=MEMBERS["reporter"]))
    incident.refresh_from_db()
    assert incident.lead is None
    [reply] = Notification.objects.filter(recipient=f"ephemeral:{CHANNEL}:{MEMBERS['reporter']}")
    assert "(Reporter) does not allow you to take the lead" in reply.body_text


def test_take_makes_the_member_lead(incident, linked, manager):
    interaction(button(slackapp.TAKE, incident.ref, member=MEMBERS["manager"]))
    incident.refresh_from_db()
    assert incident.lead == manager


def test_an_illegal_move_is_explained_to_the_presser_only(incident, linked, other_responder):
    from incidents import workflow

    workflow.acknowledge(incident, by=other_responder)
    before = TimelineEntry.objects.count()
    interaction(button(slackapp.ACK, incident.ref))
    assert TimelineEntry.objects.count() == before
    [reply] = Notification.objects.filter(recipient=f"ephemeral:{CHANNEL}:{MEMBERS['responder']}")
    assert reply.body_text == f"{incident.ref} is already acknowledged."


def test_a_repeated_press_delivery_adds_no_second_reply(incident, linked):
    payload = button(slackapp.ACK, incident.ref, member=MEMBERS["viewer"], trigger="same-trigger")
    interaction(payload)
    interaction(payload)
    assert Notification.objects.filter(recipient__startswith="ephemeral:").count() == 1


def test_open_in_beacon_changes_nothing(incident, linked):
    before = snapshot()
    assert interaction(button(slackapp.OPEN, incident.ref)).status_code == 200
    assert snapshot() == before


def test_a_body_over_the_limit_is_refused_before_it_is_read(linked):
    from django.test import Client

    response = Client().post(
        INTERACTIONS, "x", content_type="application/x-www-form-urlencoded", CONTENT_LENGTH=str(2 * 1024 * 1024)
    )
    assert response.status_code == 413


def test_the_app_manifest_points_at_beacons_endpoints():
    """deploy/slack-app-manifest.yml is what people paste into Slack: its URLs and command must
    be the ones Beacon answers."""
    from pathlib import Path

    from django.urls import resolve

    manifest = (Path(__file__).resolve().parents[3] / "deploy" / "slack-app-manifest.yml").read_text()
    assert "command: /incident\n" in manifest
    for path in (COMMANDS, INTERACTIONS):
        assert f"url: https://beacon.example.com{path}\n" in manifest
        resolve(path)
    for scope in ("chat:write", "commands"):
        assert f"- {scope} " in manifest


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "block_actions", "user": "U0RESPONDER", "actions": [{"action_id": "beacon_acknowledge"}]},
        {"type": "block_actions", "user": {"id": "U0RESPONDER"}, "actions": "nope"},
        {"type": "view_submission", "view": ["not", "a", "view"]},
        {
            "type": "view_submission",
            "user": {"id": "U0RESPONDER"},
            "view": {"callback_id": "beacon_report", "state": 7},
        },
    ],
)
def test_a_signed_payload_of_the_wrong_shape_is_a_clear_400_and_changes_nothing(payload, incident, linked):
    before = snapshot()
    response = interaction(payload)
    assert response.status_code == 400
    assert "nothing was changed" in response.content.decode()
    assert snapshot() == before


def test_a_title_cannot_notify_the_channel(reporter, slack_api):
    incident = make_incident(by=reporter, title="<!channel> checkout & <@U1> down")
    deliver_slack_app()
    [post] = slack_api.calls_to("chat.postMessage")
    assert "<!channel>" not in json.dumps(post["params"]) and "<@U1>" not in json.dumps(post["params"])
    assert "&lt;!channel&gt; checkout &amp; &lt;@U1&gt; down" in post["params"]["text"]
    assert incident.ref in post["params"]["text"]


def test_a_slack_member_id_links_one_beacon_account_only(clients, responder, viewer):
    from incidents.models import Profile

    Profile.objects.create(user=responder, slack_member_id="U0RESPONDER")
    # A viewer claiming the responder's Slack id would make the responder's presses act as them.
    response = clients["viewer"].post("/accounts/profile/", {"time_zone": "", "slack_member_id": "U0RESPONDER"})
    assert response.status_code == 422
    assert "linked to another Beacon account" in response.content.decode()
    assert not Profile.objects.filter(user=viewer, slack_member_id="U0RESPONDER").exists()
    # Saving one's own id again is fine.
    response = clients["responder"].post("/accounts/profile/", {"time_zone": "", "slack_member_id": "U0RESPONDER"})
    assert response.status_code == 302
