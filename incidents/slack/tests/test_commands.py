"""The /incident slash command and its report dialog, signed in the test, against a fake Web API."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import json

import pytest

from incidents.models import Incident, Notification, Status, TimelineEntry
from incidents.slack import intake
from incidents.slack.tests.support import CHANNEL, MEMBERS, command, interaction, link, slack_api  # noqa: F401
from incidents.tests.factories import ServiceFactory, make_incident


@pytest.fixture
def linked(reporter, responder, viewer, manager):
    link({"reporter": reporter, "responder": responder, "viewer": viewer, "manager": manager})


@pytest.fixture
def checkout(db):
    return ServiceFactory(name="Checkout")


def submission(view: dict, *, member: str = MEMBERS["responder"], **values) -> dict:
    """Slack's view_submission for the dialog `view`, with the person's answers."""
    state = {}
    for block, value in values.items():
        if block in ("service", "severity"):
            state[block] = {"value": {"type": "static_select", "selected_option": {"value": value}}}
        else:
            state[block] = {"value": {"type": "plain_text_input", "value": value}}
    return {
        "type": "view_submission",
        "user": {"id": member},
        "view": {
            "id": "V1",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": state},
        },
    }


def test_without_words_it_explains_itself(linked):
    body = command("").json()
    assert body["response_type"] == "ephemeral" and "/incident ack INC-42" in body["text"]


def test_report_dialog_opens_and_its_submission_creates_the_incident(checkout, linked, responder, slack_api):
    response = command("Checkout returns 500")
    assert response.status_code == 200
    [opened] = slack_api.calls_to("views.open")
    assert opened["params"]["trigger_id"].startswith("13345224609.")
    view = opened["params"]["view"]
    assert [b["block_id"] for b in view["blocks"]] == ["title", "service", "severity", "impact"]
    assert view["blocks"][0]["element"]["initial_value"] == "Checkout returns 500"
    assert {"text": {"type": "plain_text", "text": "Checkout"}, "value": str(checkout.pk)} in view["blocks"][1][
        "element"
    ]["options"]
    assert not Incident.objects.exists()  # opening the dialog writes nothing

    answer = interaction(
        submission(
            view, title="Checkout returns 500", service=str(checkout.pk), severity="high", impact="Nobody can pay"
        )
    )
    assert answer.status_code == 200
    incident = Incident.objects.get()
    reply = answer.json()
    assert reply["response_action"] == "update"
    assert incident.ref in json.dumps(reply["view"])
    assert (incident.title, incident.service, incident.severity, incident.impact) == (
        "Checkout returns 500",
        checkout,
        "high",
        "Nobody can pay",
    )
    assert (incident.reporter, incident.source) == (responder, Incident.Source.SLACK)
    reported = incident.timeline.get(kind=TimelineEntry.Kind.REPORTED)
    assert reported.data["via"] == "slack"
    # The member also hears it in the channel they typed the command in.
    [said] = Notification.objects.filter(recipient=f"ephemeral:{CHANNEL}:{MEMBERS['responder']}")
    assert said.body_text.startswith(f"{incident.ref} reported")


def test_a_submission_with_errors_shows_them_in_the_dialog(checkout, linked, slack_api):
    command("Checkout returns 500")
    view = slack_api.calls_to("views.open")[0]["params"]["view"]
    answer = interaction(submission(view, title="   ", service="999999", severity="urgent", impact="x")).json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"title", "service", "severity"}
    assert "one of the listed services" in answer["errors"]["service"]
    assert not Incident.objects.exists()


def test_a_viewer_cannot_report_from_slack(checkout, linked, slack_api):
    body = command("Checkout returns 500", member=MEMBERS["viewer"]).json()
    assert "(Viewer) does not allow you to report" in body["text"]
    assert slack_api.calls_to("views.open") == []
    # Nor by submitting a dialog made for someone else.
    view = intake.report_view("x", CHANNEL)
    answer = interaction(
        submission(view, member=MEMBERS["viewer"], title="x", service=str(checkout.pk), severity="low", impact="x")
    ).json()
    assert answer["response_action"] == "errors" and "does not allow" in answer["errors"]["title"]
    assert not Incident.objects.exists()


def test_when_slack_will_not_open_the_dialog_the_member_is_told(checkout, linked, slack_api):
    slack_api.answer("views.open", 200, {"ok": False, "error": "expired_trigger_id"})
    body = command("Checkout returns 500").json()
    assert "expired_trigger_id" in body["text"] and "/incidents/new/" in body["text"]
    assert not Incident.objects.exists()


def test_ack_and_take_by_reference(reporter, linked, responder, manager, slack_api):
    incident = make_incident(by=reporter)
    body = command(f"ack {incident.ref.lower()}").json()
    assert body == {"response_type": "ephemeral", "text": f"{incident.ref} acknowledged."}
    body = command(f"take {incident.ref}", member=MEMBERS["manager"]).json()
    assert body["text"] == f"You lead {incident.ref} now."
    incident.refresh_from_db()
    assert (incident.status, incident.lead) == (Status.ACKNOWLEDGED, manager)
    assert [e.data.get("via") for e in incident.timeline.exclude(kind="reported")] == ["slack", "slack"]


def test_ack_of_a_viewer_or_of_nothing_is_refused(reporter, linked):
    incident = make_incident(by=reporter)
    assert "(Viewer) does not allow" in command(f"ack {incident.ref}", member=MEMBERS["viewer"]).json()["text"]
    assert "no incident INC-999999" in command("ack INC-999999").json()["text"]
    assert "Say which incident" in command("take").json()["text"]
    incident.refresh_from_db()
    assert incident.status == Status.REPORTED


def test_open_lists_open_incidents_to_the_caller_only(reporter, responder, linked):
    from incidents import workflow

    critical = make_incident(by=reporter, severity="critical", title="Payments <down> & out")
    low = make_incident(by=reporter, severity="low", title="Typo on the footer")
    done = make_incident(by=reporter, title="Fixed already")
    workflow.resolve(done, by=responder, summary="Fixed.", confirmed=True)
    body = command("open", member=MEMBERS["viewer"]).json()
    assert body["response_type"] == "ephemeral"
    text = body["text"]
    assert text.index(critical.ref) < text.index(low.ref)
    assert "Payments &lt;down&gt; &amp; out" in text
    assert done.ref not in text


def test_a_slow_slack_cannot_hold_the_answer_past_three_seconds(checkout, linked, slack_api, monkeypatch):
    import time

    from incidents.slack import views

    monkeypatch.setattr(views, "VIEWS_OPEN_TIMEOUT", 0.3)  # 2 s in production; the trigger lives 3 s
    slack_api.delay("views.open", 1.0)
    started = time.monotonic()
    body = command("Checkout returns 500").json()
    assert time.monotonic() - started < 1.0
    assert "did not answer in time" in body["text"] and "/incidents/new/" in body["text"]
    assert not Incident.objects.exists()
