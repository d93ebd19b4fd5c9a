"""The generic webhook end to end: `POST /integrations/webhook/` with Uptime Kuma's bodies
(fixtures/webhook/), and the mapping's admin with its try-it box. The mapping itself, without a
database: test_webhook_mapping.py."""

import copy
import json
import re
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from incidents.alerts.tests.support import make_integration, plan_setting
from incidents.models import Alert, AlertGroup, Incident, Integration, Service, Status, TimelineEntry, WebhookMapping

FIXTURES = Path(__file__).parent / "fixtures" / "webhook"
URL = "/integrations/webhook/"

# The mapping docs/webhooks-in.md gives for Uptime Kuma.
KUMA = {
    "title": "$.monitor.name",
    "description": "$.msg",
    "service": "$.monitor.name",
    "severity": "",
    "severity_map": "",
    "default_severity": "high",
    "dedup_key": "$.monitor.id",
    "resolve_when": "$.heartbeat.status",
    "resolve_values": "1",
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def nothing_stored() -> bool:
    return not Incident.objects.exists() and not Alert.objects.exists() and not TimelineEntry.objects.exists()


class Sender:
    def __init__(self, token: str):
        self.token = token
        self.client = Client()

    def post(self, body, *, token=None, **extra):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}"}
        return self.client.post(URL, data, content_type="application/json", **{**auth, **extra})


def map_integration(integration: Integration, **fields) -> WebhookMapping:
    return WebhookMapping.objects.create(integration=integration, **{**KUMA, **fields})


@pytest.fixture
def hook(db):
    integration, token = make_integration("kuma", kind=Integration.Kind.WEBHOOK)
    map_integration(integration)
    return Sender(token)


# --- POST /integrations/webhook/ -------------------------------------------------------------------


def test_a_down_body_opens_an_incident_mapped_as_configured(hook, django_assert_max_num_queries):
    # The token, the lock, the plan, then the intake's opening of an incident (its service created):
    # with the silences in force, the service's escalation policy and its steps, and whether the
    # service is in maintenance.
    with django_assert_max_num_queries(38):
        response = hook.post(load("uptime-kuma-down"))
    assert response.status_code == 200, response.content
    assert response.json()["created"] is True
    incident = Incident.objects.get()
    assert response.json()["incident"] == incident.ref
    assert (incident.title, incident.severity, incident.service.name) == ("Shop front page", "high", "Shop front page")
    assert incident.source == Incident.Source.WEBHOOK
    assert incident.description.startswith("[Shop front page] [🔴 Down]")
    assert "webhook “kuma”" in incident.impact
    group = AlertGroup.objects.get()
    assert (group.group_key, group.incident, group.last_payload) == ("29", incident, load("uptime-kuma-down"))


def test_the_same_body_replayed_opens_nothing_and_writes_nothing(hook, django_assert_max_num_queries):
    hook.post(load("uptime-kuma-down"))
    entries = TimelineEntry.objects.count()
    # The token (with the mapping), the integration's lock, the plan, begin and commit.
    with django_assert_max_num_queries(5):
        response = hook.post(load("uptime-kuma-down"))
    assert response.status_code == 200
    assert response.json()["created"] is False and response.json()["changed"] is False
    assert "Nothing new" in response.json()["message"]
    assert Incident.objects.count() == 1 and Alert.objects.count() == 1
    assert TimelineEntry.objects.count() == entries


def test_a_resend_while_down_joins_the_open_incident_silently(hook):
    hook.post(load("uptime-kuma-down"))
    entries = TimelineEntry.objects.count()
    again = load("uptime-kuma-down")
    again["heartbeat"]["time"] = "2026-11-27 09:46:35.100"
    response = hook.post(again)
    assert response.json()["incident"] == Incident.objects.get().ref
    assert TimelineEntry.objects.count() == entries and Alert.objects.count() == 1


def test_an_up_body_mitigates_and_its_replay_changes_nothing(hook, django_assert_max_num_queries):
    hook.post(load("uptime-kuma-down"))
    # As a resolving Alertmanager payload: the known alerts as values, then the resolving ones' rows.
    # 22: leaving "reported" drops the pages still waiting for their delay (outbox.drop_delayed_pages).
    with django_assert_max_num_queries(22 + plan_setting()):
        response = hook.post(load("uptime-kuma-up"))
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert incident.status == Status.MITIGATED
    assert response.json()["incident"] == incident.ref and response.json()["changed"] is True
    assert Alert.objects.get().status == Alert.Status.RESOLVED

    entries = TimelineEntry.objects.count()
    response = hook.post(load("uptime-kuma-up"))
    assert "Nothing to resolve" in response.json()["message"]
    # The old down body sent again after the up: already applied, so still nothing.
    response = hook.post(load("uptime-kuma-down"))
    assert "applied before" in response.json()["message"]
    assert TimelineEntry.objects.count() == entries
    assert Incident.objects.get().status == Status.MITIGATED


def test_the_timeline_and_the_alert_panel_name_the_webhook(hook, clients):
    hook.post(load("uptime-kuma-down"))
    hook.post(load("uptime-kuma-up"))
    incident = Incident.objects.get()
    texts = list(incident.timeline.values_list("text", flat=True))
    assert "Shop front page fired." in texts
    assert any(t.startswith("The webhook reports every alert of this group resolved") for t in texts)
    html = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert 'id="alert-group"' in html and "from kuma" in html
    assert "Mitigated because the webhook reported every alert of this group resolved" in html


def test_a_new_down_after_the_up_reactivates_the_same_incident(hook):
    hook.post(load("uptime-kuma-down"))
    hook.post(load("uptime-kuma-up"))
    later = load("uptime-kuma-down")
    later["heartbeat"]["time"] = "2026-11-27 11:02:00.000"
    response = hook.post(later)
    assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.status == Status.REPORTED
    assert Alert.objects.filter(status=Alert.Status.FIRING).count() == 1


def test_an_up_for_a_monitor_never_down_opens_nothing(hook):
    response = hook.post(load("uptime-kuma-up"))
    assert response.status_code == 200
    assert "Nothing to resolve" in response.json()["message"] and response.json()["incident"] is None
    assert nothing_stored()


def test_each_key_has_its_own_incident_and_a_closed_one_is_not_joined(hook):
    hook.post(load("uptime-kuma-down"))
    other = load("uptime-kuma-down")
    other["monitor"].update(id=30, name="Checkout")
    hook.post(other)
    assert Incident.objects.count() == 2

    # Closed (a row update stands in for the workflow's resolve and close).
    Incident.objects.filter(title="Shop front page").update(status=Status.CLOSED)
    again = load("uptime-kuma-down")
    again["heartbeat"]["time"] = "2026-11-28 08:00:00.000"
    response = hook.post(again)
    assert response.json()["created"] is True
    assert Incident.objects.count() == 3


def test_a_title_equal_to_the_heartbeat_name_is_not_taken_for_a_heartbeat(hook):
    body = load("uptime-kuma-down")
    body["monitor"]["name"] = "Watchdog"
    assert hook.post(body).json()["created"] is True
    assert Incident.objects.get().title == "Watchdog"
    assert not Integration.objects.filter(heartbeat__isnull=False).exists()


# --- refusals ----------------------------------------------------------------------------------


def assert_refused(response, status, *words):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    for word in words:
        assert word in response.json()["message"]
    assert nothing_stored()


def test_no_token_or_a_wrong_one_is_401(hook):
    assert_refused(Client().post(URL, "{}", content_type="application/json"), 401, "Bearer")
    assert_refused(hook.post(load("uptime-kuma-down"), token="bcn_wrong"), 401, "token is wrong")
    Integration.objects.update(is_active=False)
    assert_refused(hook.post(load("uptime-kuma-down")), 401)


def test_an_alertmanager_token_is_403(db):
    _, token = make_integration("am")
    assert_refused(Sender(token).post(load("uptime-kuma-down")), 403, "not a generic webhook")


def test_bad_json_is_400(hook):
    assert_refused(hook.post(b"{not json"), 400, "not JSON")
    assert_refused(hook.post(b"[" * 100_000), 400, "nested too deeply")


def test_a_body_over_1_mib_is_413_before_it_is_read(hook):
    body = json.dumps({"monitor": {"name": "x" * (1024 * 1024)}})
    assert_refused(hook.post(body), 413, "larger than")


def test_a_body_without_a_title_is_422_naming_the_selector(hook):
    response = hook.post({"msg": "hello"})
    assert_refused(response, 422, "$.monitor.name")
    assert response.json()["errors"][0] == {
        "field": "title",
        "selector": "$.monitor.name",
        "message": "found nothing (or an empty text) in the body, and every incident needs a title.",
    }


def test_an_invalid_severity_is_422_naming_the_selector(hook):
    WebhookMapping.objects.update(severity="$.heartbeat.msg", default_severity="")
    assert_refused(hook.post(load("uptime-kuma-down")), 422, "severity ($.heartbeat.msg)", "not a severity")


def test_an_integration_without_a_mapping_is_422_saying_where_to_make_one(db):
    _, token = make_integration("bare", kind=Integration.Kind.WEBHOOK)
    assert_refused(Sender(token).post(load("uptime-kuma-down")), 422, "no field mapping", "admin")


def test_a_mapping_broken_since_it_was_saved_is_422(hook):
    WebhookMapping.objects.update(title="monitor.name")
    assert_refused(hook.post(load("uptime-kuma-down")), 422, "mapping is invalid", "starts with $")


def test_only_post_is_answered(hook):
    response = hook.client.get(URL)
    assert response.status_code == 405 and response["Allow"] == "POST"


@pytest.mark.postgres_only
def test_a_locked_table_answers_503_and_the_retry_succeeds(hook, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no lock timeout to hit")
    params = connection.get_connection_params()
    locker = psycopg.connect(
        **{k: v for k, v in params.items() if k in {"host", "port", "user", "password", "dbname"}}, autocommit=False
    )
    try:
        locker.execute("LOCK TABLE incidents_alertgroup IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        response = hook.post(load("uptime-kuma-down"))
        assert response.status_code == 503, response.content
        assert response["Retry-After"].isdigit()
    finally:
        locker.rollback()
        locker.close()
    assert nothing_stored()
    assert hook.post(load("uptime-kuma-down")).status_code == 200
    assert Incident.objects.count() == 1


# --- the command -------------------------------------------------------------------------------


def test_the_command_makes_a_webhook_integration_and_says_where_to_map_it(db):
    out = StringIO()
    call_command("create_integration", "webhook", "kuma", stdout=out)
    assert "Webhook mappings" in out.getvalue()
    token = out.getvalue().rstrip("\n").splitlines()[-1]
    integration = Integration.objects.get(name="kuma")
    assert integration.kind == Integration.Kind.WEBHOOK
    map_integration(integration)
    assert Sender(token).post(load("uptime-kuma-down")).json()["created"] is True


def test_a_webhook_integration_made_in_the_admin_says_where_its_token_goes(clients):
    data = {"name": "kuma", "kind": "webhook", "is_active": "on"}
    data |= {"heartbeat-TOTAL_FORMS": "0", "heartbeat-INITIAL_FORMS": "0"}
    response = clients["manager"].post("/admin/incidents/integration/add/", data, follow=True)
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "Authorization: Bearer header" in shown and "Webhook mappings" in shown
    assert "credentials_file" not in shown
    token = re.search(r"bcn_[A-Za-z0-9_-]{20,}", shown).group(0)
    map_integration(Integration.objects.get(name="kuma"))
    assert Sender(token).post(load("uptime-kuma-down")).json()["created"] is True


# --- the admin: the mapping and its "try it" box ----------------------------------------------------

ADD = "/admin/incidents/webhookmapping/add/"


@pytest.fixture
def bare(db):
    return make_integration("kuma", kind=Integration.Kind.WEBHOOK)[0]


def form_data(integration, **changes) -> dict:
    return {"integration": integration.pk, "default_service": "", **KUMA, **changes}


def test_a_manager_saves_a_valid_mapping(clients, bare):
    response = clients["manager"].post(ADD, form_data(bare))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert WebhookMapping.objects.get().title == "$.monitor.name"


def test_a_wrong_mapping_is_not_saved_and_each_error_is_shown_at_its_field(clients, bare):
    data = form_data(bare, title="monitor.name", severity="$.p", severity_map="P1 = critical", default_severity="")
    response = clients["manager"].post(ADD, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "A selector starts with $" in html
    assert "A severity map needs a default severity" in html
    assert not WebhookMapping.objects.exists()


def test_only_webhook_integrations_can_be_mapped(clients, bare):
    am, _ = make_integration("am")
    response = clients["manager"].post(ADD, form_data(am))
    assert response.status_code == 200 and not WebhookMapping.objects.exists()


def test_the_add_page_has_the_try_it_box(clients, bare):
    html = clients["manager"].get(ADD).content.decode()
    assert 'name="try_payload"' in html and 'name="_try"' in html


def test_try_it_shows_what_a_body_would_open_and_writes_nothing(clients, bare, django_assert_max_num_queries):
    data = form_data(bare, try_payload=json.dumps(load("uptime-kuma-down")), _try="Try it")
    with django_assert_max_num_queries(15):
        response = clients["manager"].post(ADD, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Shop front page" in html and "<code>29</code>" in html
    assert "Opens the problem" in html
    assert "no: it says the problem is firing" in html
    assert not WebhookMapping.objects.exists() and nothing_stored()


def test_try_it_on_a_saved_mapping_tries_the_mapping_as_typed(clients, bare):
    mapping = map_integration(bare)
    url = f"/admin/incidents/webhookmapping/{mapping.pk}/change/"
    data = form_data(bare, title="$.msg", try_payload=json.dumps(load("uptime-kuma-up")), _try="Try it")
    html = clients["manager"].post(url, data).content.decode()
    assert "[Shop front page] [✅ Up] 200 - OK" in html
    assert "yes: it mitigates" in html and "Nothing to resolve" in html
    assert WebhookMapping.objects.get().title == "$.monitor.name"


def test_try_it_with_a_body_the_mapping_cannot_read_lists_the_errors(clients, bare):
    data = form_data(bare, try_payload='{"msg": "hi"}', _try="Try it")
    html = clients["manager"].post(ADD, data).content.decode()
    assert "would be refused (422)" in html
    assert "title (<code>$.monitor.name</code>): found nothing" in html
    html = clients["manager"].post(ADD, {**data, "try_payload": "{oops"}).content.decode()
    assert "The body is not JSON" in html
    html = clients["manager"].post(ADD, {**data, "try_payload": ""}).content.decode()
    assert "Paste a body to try." in html
    assert nothing_stored() and not WebhookMapping.objects.exists()


def test_try_it_with_a_wrong_mapping_asks_for_the_mapping_first(clients, bare):
    data = form_data(bare, title="$.", try_payload=json.dumps(load("uptime-kuma-down")), _try="Try it")
    html = clients["manager"].post(ADD, data).content.decode()
    assert "Correct the mapping's errors above first." in html
    assert "After the “.” at character 2" in html


def test_try_it_is_for_managers_only(clients, bare):
    data = form_data(bare, try_payload="{}", _try="Try it")
    for role in ("responder", "viewer"):
        assert clients[role].post(ADD, data).status_code == 403


def test_the_payload_pasted_is_escaped(clients, bare):
    body = copy.deepcopy(load("uptime-kuma-down"))
    body["monitor"]["name"] = "<script>alert(1)</script>"
    html = clients["manager"].post(ADD, form_data(bare, try_payload=json.dumps(body), _try="1")).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not Service.objects.filter(name__contains="script").exists()
