"""The OpenAPI schema and the interactive docs, served from vendored files only."""

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from incidents.api.tests.support import call, integration_token, personal_token

ENDPOINTS = {
    "/api/incidents": {"get", "post"},
    "/api/incidents/{ref}": {"get", "patch"},
    "/api/incidents/{ref}/updates": {"get", "post"},
    "/api/incidents/{ref}/roles": {"get", "post"},
    "/api/incidents/{ref}/tasks": {"get"},
    "/api/incidents/{ref}/tasks/{task_id}": {"post"},
    # The workflow verbs (incidents/api/actions.py).
    **{
        f"/api/incidents/{{ref}}/{verb}": {"post"}
        for verb in ["acknowledge", "take", "lead", "severity", "mitigate", "resolve", "reopen", "reactivate", "close"]
    },
    # The timeline, notes and following (incidents/api/timeline.py).
    "/api/incidents/{ref}/timeline": {"get"},
    "/api/incidents/{ref}/notes": {"get", "post"},
    "/api/incidents/{ref}/follow": {"post"},
    "/api/incidents/{ref}/unfollow": {"post"},
    "/api/incidents/{ref}/followers": {"get"},
    # Types and who is on call (incidents/api/catalog.py).
    "/api/types": {"get"},
    "/api/teams": {"get"},
    "/api/types/{slug}": {"get"},
    "/api/oncall": {"get"},
    # The on-call load report (incidents/oncall/api.py, mounted through incidents/panels.py).
    "/api/oncall/load": {"get"},
    # Escalation policies, read only (incidents/api/policies.py).
    "/api/escalation-policies": {"get"},
    "/api/escalation-policies/{policy_id}": {"get"},
    # Reviews and action items (reviews/api.py, mounted through incidents/panels.py).
    "/api/incidents/{ref}/review": {"get", "post", "put"},
    "/api/incidents/{ref}/review/action-items": {"post"},
    "/api/action-items": {"get"},
    "/api/action-items/{item_id}": {"patch"},
    "/api/action-items/{item_id}/state": {"post"},
    # Maintenance windows and silences (incidents/maintenance/api.py, mounted through incidents/panels.py).
    "/api/maintenance-windows": {"get", "post"},
    "/api/maintenance-windows/{window_id}/cancel": {"post"},
    "/api/silences": {"get", "post"},
    "/api/silences/{silence_id}/cancel": {"post"},
}


def test_the_schema_lists_every_endpoint(clients):
    response = clients["viewer"].get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {path: set(ops) for path, ops in schema["paths"].items()} == ENDPOINTS
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["TokenAuth"]["description"],
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"TokenAuth": []}], (method, path)
            assert {"401", "403", "422"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert "400" in operation["responses"], (method, path)
    ids = {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}
    assert ids == {
        "list_policies",
        "get_policy",
        "list_incidents",
        "list_teams",
        "create_incident",
        "get_incident",
        "edit_incident",
        "post_update",
        "list_updates",
        "list_roles",
        "assign_role",
        "list_tasks",
        "tick_task",
        "acknowledge",
        "take",
        "set_lead",
        "change_severity",
        "mitigate",
        "resolve",
        "reopen",
        "reactivate",
        "close",
        "read_timeline",
        "list_notes",
        "add_note",
        "follow",
        "unfollow",
        "list_followers",
        "list_types",
        "get_type",
        "who_is_on_call",
        "oncall_load",
        "get_review",
        "start_review",
        "edit_review",
        "list_action_items",
        "add_action_item",
        "change_action_item",
        "set_action_item_state",
        "list_windows",
        "add_window",
        "cancel_window",
        "list_silences",
        "add_silence",
        "cancel_silence",
    }


def test_the_schema_describes_the_report_fields(clients):
    schema = clients["viewer"].get("/api/openapi.json").json()
    incident_in = schema["components"]["schemas"]["IncidentIn"]
    # severity may be left to the type's default (docs/api.md).
    assert set(incident_in["required"]) == {"title", "description", "impact", "service"}
    assert "type" in incident_in["properties"] and "restricted" in incident_in["properties"]
    assert incident_in["properties"]["title"]["maxLength"] == 200
    assert incident_in["additionalProperties"] is False
    severity = schema["components"]["schemas"]["Severity"]
    assert severity["enum"] == ["critical", "high", "medium", "low"]
    errors = schema["paths"]["/api/incidents"]["post"]["responses"]["422"]
    assert errors["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ValidationErrors"}


def test_the_schema_is_public_whatever_token_comes_with_it(responder):
    """Code generators and validators read it before they have a token; it holds no data."""
    for token in [None, personal_token(responder), integration_token(), "bcu_wrong"]:
        response = call("get", "/api/openapi.json", token)
        assert response.status_code == 200, token
        assert response["Content-Type"] == "application/json"
        assert response.json()["info"]["title"] == "Beacon"


def test_anonymous_visitors_get_the_docs_page_and_never_a_redirect(db):
    response = Client().get("/api/docs")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/incidents"),
        ("post", "/api/incidents"),
        ("get", "/api/incidents/INC-1"),
        ("post", "/api/incidents/INC-1/updates"),
        ("get", "/api/incidents/INC-1/roles"),
    ],
)
def test_anonymous_api_requests_get_401_json_never_a_redirect(db, method, url):
    response = call(method, url)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="beacon"'
    assert response.json()["detail"].startswith("Missing, wrong or revoked API token")


def test_an_unknown_api_url_is_a_json_404(db):
    for url in ["/api/", "/api/nothing-here", "/api/incidents/INC-1/nothing"]:
        response = Client().get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/json", url
        assert "/api/openapi.json" in response.json()["detail"]
    # Outside /api/ a person still gets the page.
    response = Client().get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_the_docs_page_uses_vendored_assets_only(clients):
    response = clients["reporter"].get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "the docs page must not load anything from another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in assets
    assert "/static/vendor/swagger-ui/swagger-ui.css" in assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not in static/"
    settings = json.loads(re.search(r'<script id="swagger-settings"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert settings["url"] == "/api/openapi.json"
    # Swagger UI would otherwise send the schema to validator.swagger.io.
    assert settings["validatorUrl"] is None


def test_the_vendored_swagger_ui_carries_its_licence():
    assert "Apache License" in open(finders.find("vendor/swagger-ui/LICENSE")).read()
    assert finders.find("vendor/swagger-ui/NOTICE")


@pytest.mark.browser
def test_the_docs_page_renders_in_a_browser_without_leaving_beacon(transactional_db, manager):
    """Chromium opens /api/docs on a live server: every request stays on 127.0.0.1."""
    from playwright.sync_api import sync_playwright
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("127.0.0.1:19101")
    try:
        client = Client()
        client.force_login(manager)
        session = client.cookies["sessionid"].value
        requested = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            try:
                context = browser.new_context()
                context.add_cookies([{"name": "sessionid", "value": session, "url": server.url}])
                page = context.new_page()
                page.on("request", lambda request: requested.append(request.url))
                page.goto(f"{server.url}/api/docs")
                page.wait_for_selector(".opblock-summary-path", timeout=15000)
                paths = page.locator(".opblock-summary-path").all_inner_texts()
                title = page.locator(".info .title").inner_text()
            finally:
                browser.close()
    finally:
        server.stop()
    assert "Beacon" in title
    assert {p.replace("\u200b", "") for p in paths} == set(ENDPOINTS)
    assert requested and all(url.startswith(server.url) for url in requested), requested
