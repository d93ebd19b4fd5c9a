"""Integrations: the create_integration command and the admin (create with the token shown once,
rotate, disable), each checked by posting to the receiver with the token."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from incidents.alerts.tests.support import Poster, load, make_integration
from incidents.models import Heartbeat, Integration

TOKEN = re.compile(r"bcn_[A-Za-z0-9_-]{20,}")


def accepted(token: str) -> bool:
    return Poster(token).post(load("firing")).status_code == 200


def test_the_command_prints_the_token_alone_on_the_last_line(db):
    out = StringIO()
    call_command("create_integration", "alertmanager", "prod-alertmanager", stdout=out)

    last = out.getvalue().rstrip("\n").splitlines()[-1]
    assert TOKEN.fullmatch(last)
    integration = Integration.objects.get(name="prod-alertmanager")
    assert integration.kind == Integration.Kind.ALERTMANAGER
    assert integration.token_hash != last and last not in integration.token_hint + integration.token_hash
    assert accepted(last)


def test_the_command_can_set_up_the_heartbeat(db):
    call_command(
        "create_integration",
        "alertmanager",
        "am",
        "--heartbeat-minutes",
        "5",
        "--heartbeat-alertname",
        "DMS",
        stdout=StringIO(),
    )
    heartbeat = Heartbeat.objects.get(integration__name="am")
    assert (heartbeat.window, heartbeat.alertname) == (timedelta(minutes=5), "DMS")


def test_what_the_command_is_not_told_about_the_heartbeat_comes_from_the_settings(db, settings):
    settings.ALERTMANAGER_HEARTBEAT_ALERTNAME = "DeadMansSwitch"
    settings.ALERTMANAGER_HEARTBEAT_WINDOW_MINUTES = 7
    call_command("create_integration", "alertmanager", "am1", "--heartbeat-minutes", "5", stdout=StringIO())
    call_command("create_integration", "alertmanager", "am2", "--heartbeat-alertname", "DMS", stdout=StringIO())
    assert Heartbeat.objects.get(integration__name="am1").alertname == "DeadMansSwitch"
    assert Heartbeat.objects.get(integration__name="am2").window == timedelta(minutes=7)


@pytest.mark.parametrize(
    "options, message",
    [(["--heartbeat-minutes", "0"], "at least 1"), (["--heartbeat-alertname", "x" * 101], "at most 100")],
)
def test_the_command_refuses_a_bad_heartbeat(db, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_integration", "alertmanager", "am", *options, stdout=StringIO())
    assert not Integration.objects.exists()


def test_the_command_refuses_a_name_in_use(db):
    make_integration(name="am")
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_integration", "alertmanager", "am", stdout=StringIO())


def test_the_command_refuses_an_unknown_kind(db):
    with pytest.raises(CommandError):
        call_command("create_integration", "pagerduty", "x", stdout=StringIO())


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_a_manager_creates_an_integration_and_sees_its_token_once(clients):
    client = clients["manager"]
    response = client.post(
        "/admin/incidents/integration/add/",
        {
            "name": "staging",
            "kind": "alertmanager",
            "is_active": "on",
            "heartbeat-TOTAL_FORMS": "0",
            "heartbeat-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    token = TOKEN.search(_messages(response)).group(0)
    assert accepted(token)
    integration = Integration.objects.get(name="staging")
    # Never again: not on its page, not in the list.
    for url in ("/admin/incidents/integration/", f"/admin/incidents/integration/{integration.pk}/change/"):
        assert token not in client.get(url).content.decode()


def test_a_manager_rotates_a_token(clients):
    integration, old = make_integration(name="am")
    response = clients["manager"].post(
        "/admin/incidents/integration/",
        {"action": "rotate_token", "_selected_action": [integration.pk]},
        follow=True,
    )
    new = TOKEN.search(_messages(response)).group(0)
    assert new != old
    assert not accepted(old)
    assert accepted(new)


def test_a_manager_disables_an_integration(clients):
    integration, token = make_integration(name="am")
    clients["manager"].post(
        "/admin/incidents/integration/", {"action": "disable", "_selected_action": [integration.pk]}
    )
    response = Poster(token).post(load("firing"))
    assert response.status_code == 401
    assert "disabled" in json.loads(response.content)["message"]


@pytest.mark.parametrize("role", ["responder", "reporter", "viewer"])
def test_only_managers_manage_integrations(clients, role):
    assert clients[role].get("/admin/incidents/integration/").status_code == 403
