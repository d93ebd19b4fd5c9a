"""Nothing internal reaches the public status page, its incident pages or its feed.

One public incident is filled with secret text in every internal place Beacon has
(description, impact, logs, notes, internal updates, mitigation text, severity-change
reason, reopen reason, resolution summary, reporter, lead and confirmer names and
emails); internal incidents and a hidden service carry secret titles. Only the public
update and the public title may appear.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from incidents import roles, workflow
from incidents.statuspage.tests.data import incident_in
from incidents.tests.factories import ServiceFactory

SECRETS = {
    "description": "SECRET-DESCRIPTION-db-password-hunter2",
    "impact": "SECRET-IMPACT-only-acme-corp-affected",
    "logs": "SECRET-LOGS-Traceback-at-10.0.3.7",
    "note": "SECRET-NOTE-rollback-blamed-on-deploy",
    "internal_update": "SECRET-INTERNAL-UPDATE-waiting-on-vendor",
    "mitigation": "SECRET-MITIGATION-flipped-feature-flag",
    "severity_reason": "SECRET-SEVERITY-REASON-ceo-complained",
    "reopen_reason": "SECRET-REOPEN-REASON-still-failing",
    "resolution": "SECRET-RESOLUTION-SUMMARY-restarted-primary",
    "internal_title": "SECRET-TITLE-of-an-internal-incident",
    "hidden_service": "SECRET-SERVICE-Back-office",
    "hidden_title": "SECRET-TITLE-on-a-hidden-service",
    "reporter_name": "Zebulonreporter",
    "reporter_username": "zz_reporter_login",
    "reporter_email": "zz.reporter@secret.example",
    "lead_name": "Quintinalead",
    "lead_username": "qq_lead_login",
    "lead_email": "qq.lead@secret.example",
}
PUBLIC_TITLE = "Card payments fail for some customers"
PUBLIC_UPDATES = ["We are investigating failed card payments.", "Payments are working again."]
RESOLVED_TITLE = "Search was slow"
RESOLVED_UPDATE = "Search is fast again."


def person(key, role):
    user = get_user_model().objects.create_user(
        username=SECRETS[f"{key}_username"],
        first_name=SECRETS[f"{key}_name"],
        last_name="Secret",
        email=SECRETS[f"{key}_email"],
    )
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def secret_world(db):
    reporter = person("reporter", roles.RESPONDER)
    lead = person("lead", roles.RESPONDER)
    service = ServiceFactory(name="Payments")
    fields = {"description": SECRETS["description"], "impact": SECRETS["impact"], "logs": SECRETS["logs"]}

    active = incident_in("reported", by=reporter, service=service, title=PUBLIC_TITLE, severity="high", **fields)
    workflow.acknowledge(active, by=lead)
    workflow.add_note(active, by=lead, text=SECRETS["note"])
    workflow.post_update(active, by=lead, message=PUBLIC_UPDATES[0], public=True)
    workflow.post_update(active, by=lead, message=SECRETS["internal_update"], public=False)
    workflow.change_severity(active, by=lead, severity="critical", reason=SECRETS["severity_reason"])
    workflow.mitigate(active, by=lead, text=SECRETS["mitigation"])
    workflow.resolve(active, by=lead, summary=SECRETS["resolution"], confirmed=True)
    workflow.reopen(active, by=lead, reason=SECRETS["reopen_reason"])
    workflow.post_update(active, by=lead, message=PUBLIC_UPDATES[1], public=True)

    resolved = incident_in("acknowledged", by=reporter, service=service, title=RESOLVED_TITLE, **fields)
    workflow.post_update(resolved, by=lead, message=RESOLVED_UPDATE, public=True)
    workflow.post_update(resolved, by=lead, message=SECRETS["internal_update"], public=False)
    workflow.resolve(resolved, by=lead, summary=SECRETS["resolution"], confirmed=True)

    internal = incident_in("acknowledged", by=reporter, service=service, title=SECRETS["internal_title"], public=False)
    workflow.post_update(internal, by=lead, message=SECRETS["internal_update"], public=True)
    hidden_service = ServiceFactory(name=SECRETS["hidden_service"], is_public=False)
    hidden = incident_in("acknowledged", by=reporter, service=hidden_service, title=SECRETS["hidden_title"])
    workflow.post_update(hidden, by=lead, message=SECRETS["internal_update"], public=True)
    return {"active": active, "resolved": resolved, "internal": internal, "hidden": hidden}


@pytest.mark.parametrize("role", ["anonymous", "manager"])
def test_no_internal_text_reaches_the_status_page_its_incident_pages_or_feed(role, clients, secret_world):
    client = clients[role]
    pages = {
        "/status/": client.get("/status/"),
        "incident": client.get(f"/status/incidents/{secret_world['active'].ref}/"),
        "resolved incident": client.get(f"/status/incidents/{secret_world['resolved'].ref}/"),
        "feed": client.get("/status/feed.atom"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = response.content.decode()
        leaked = {key: secret for key, secret in SECRETS.items() if secret.lower() in text.lower()}
        assert not leaked, f"{name} shows internal text: {leaked}"
        assert "Secret" not in text, f"{name} shows a person's last name"

    assert all(u in pages["/status/"].content.decode() for u in PUBLIC_UPDATES)
    assert RESOLVED_TITLE in pages["/status/"].content.decode()
    assert all(u in pages["incident"].content.decode() for u in PUBLIC_UPDATES)
    assert RESOLVED_UPDATE in pages["resolved incident"].content.decode()
    feed = pages["feed"].content.decode()
    assert all(u in feed for u in [*PUBLIC_UPDATES, RESOLVED_UPDATE])
    assert PUBLIC_TITLE in feed


def test_internal_and_hidden_service_incidents_are_not_found(clients, secret_world):
    for key in ["internal", "hidden"]:
        response = clients["anonymous"].get(f"/status/incidents/{secret_world[key].ref}/")
        assert response.status_code == 404
        assert not any(secret in response.content.decode() for secret in SECRETS.values())
