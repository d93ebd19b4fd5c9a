"""Slack requests signed in the test as Slack signs them, and a fake Web API for the app."""

import json
import time
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from slack_sdk.signature import SignatureVerifier

from incidents.models import Notification, Profile
from incidents.notifications import delivery
from incidents.tests.standins import SlackApiStandIn

INTERACTIONS = "/integrations/slack/interactions/"
COMMANDS = "/integrations/slack/commands/"
CHANNEL = "C0INCIDENTS"
MEMBERS = {"responder": "U0RESPONDER", "viewer": "U0VIEWER", "reporter": "U0REPORTER", "manager": "U0MANAGER"}


def signed_post(url: str, body: str, *, secret: str | None = None, timestamp: int | None = None, **headers):
    """POST `body` (form-encoded) with Slack's signature headers, computed with slack-sdk."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret or settings.SLACK_SIGNING_SECRET).generate_signature(
        timestamp=str(timestamp), body=body
    )
    extra = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_SLACK_SIGNATURE": signature, **headers}
    return Client().post(url, body, content_type="application/x-www-form-urlencoded", **extra)


def command(text: str, *, member: str = MEMBERS["responder"], **signing) -> object:
    body = urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": member,
            "channel_id": CHANNEL,
            "team_id": "T0TEAM",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "response_url": "https://hooks.slack.invalid/commands/1",
        }
    )
    return signed_post(COMMANDS, body, **signing)


def interaction(payload: dict, **signing):
    return signed_post(INTERACTIONS, urlencode({"payload": json.dumps(payload)}), **signing)


def button(action_id: str, ref: str, *, member: str = MEMBERS["responder"], trigger: str = "trigger-1") -> dict:
    return {
        "type": "block_actions",
        "user": {"id": member, "username": "someone"},
        "channel": {"id": CHANNEL},
        "trigger_id": trigger,
        "actions": [{"action_id": action_id, "value": ref, "type": "button", "action_ts": "1700000000.1"}],
    }


def link(users: dict) -> None:
    """Give each user (by role name) their Slack member id."""
    for role, user in users.items():
        Profile.objects.update_or_create(user=user, defaults={"slack_member_id": MEMBERS[role]})


def deliver_slack_app() -> list[str]:
    """Deliver every pending Slack app row, oldest first; returns what each delivery did."""
    rows = Notification.objects.filter(channel="slack_app", state="pending").order_by("pk")
    return [delivery.deliver(pk) for pk in rows.values_list("pk", flat=True)]


@pytest.fixture
def slack_api(settings):
    with SlackApiStandIn() as stand_in:
        settings.SLACK_API_URL = stand_in.base_url
        settings.SLACK_BOT_TOKEN = "xoxb-test-only"
        settings.SLACK_CHANNEL = CHANNEL
        yield stand_in
