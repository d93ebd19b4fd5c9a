"""Incident types (shipped by migration, chosen on the form, the API and Alertmanager, filtered
everywhere) and the acts of need-to-know: restricting, lifting, adding people (docs/need-to-know.md)."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.test import Client

from conftest import make_user
from incidents import roles, workflow
from incidents.alerts.tests.support import am, integration, load  # noqa: F401
from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import Incident, IncidentType, Notification, TimelineEntry
from incidents.notifications import outbox
from incidents.tests.factories import ServiceFactory, make_incident, type_inlines_unchanged

Kind = TimelineEntry.Kind


def security_type() -> IncidentType:
    return IncidentType.objects.get(slug="security")


# --- the shipped types -----------------------------------------------------------------


def test_the_three_types_ship_with_their_policy(db):
    types = {t.slug: t for t in IncidentType.objects.all()}
    assert [t.name for t in IncidentType.objects.all()] == ["Downtime", "Performance degradation", "Security incident"]
    assert types["security"].restricted_by_default and types["security"].default_severity == "high"
    assert types["performance"].default_severity == "medium" and not types["performance"].restricted_by_default
    assert types["downtime"].default_severity == ""
    # The Security group exists beside the roles, with the need-to-know permission.
    assert Group.objects.get(name=roles.SECURITY).permissions.filter(codename="view_restricted_incident").exists()


def test_an_incident_without_a_type_is_downtime(reporter):
    assert make_incident(by=reporter).type.slug == "downtime"


def test_managers_add_types_in_the_admin(clients, reporter):
    response = clients["manager"].post(
        "/admin/incidents/incidenttype/add/",
        {
            "name": "Data loss",
            "slug": "data-loss",
            "default_severity": "critical",
            "position": "40",
            # No custom fields or review sections; its response checklist, on the same page (docs/response.md).
            **type_inlines_unchanged(
                **{
                    "checklist-TOTAL_FORMS": "1",
                    "checklist-0-position": "10",
                    "checklist-0-title": "Restore from the last good backup",
                    "checklist-0-required": "on",
                }
            ),
        },
    )
    assert response.status_code == 302
    added = IncidentType.objects.get(slug="data-loss")
    assert list(added.checklist.values_list("title", "required")) == [("Restore from the last good backup", True)]
    page = clients["reporter"].get("/incidents/new/").content.decode()
    assert 'value="data-loss"' in page
    clients["reporter"].get("/incidents/new/?type=data-loss")
    assert added.default_severity == "critical"


def test_list_and_dashboard_filter_by_type(clients, reporter):
    make_incident(by=reporter, title="Slow search", type=IncidentType.objects.get(slug="performance"))
    make_incident(by=reporter, title="Checkout down")
    listed = clients["viewer"].get("/incidents/?type=performance")
    assert [i.title for i in listed.context["page"].object_list] == ["Slow search"]
    bad = clients["viewer"].get("/incidents/?type=earthquake")
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    board = clients["viewer"].get("/?type=performance")
    assert [i.title for i in board.context["incidents"]] == ["Slow search"]
    assert board.context["counts"]["total"] == 1


# --- the API ---------------------------------------------------------------------------


def report_body(**fields):
    body = {"title": "Leaked keys", "description": "A key in a public repo.", "impact": "None yet.", "service": "x"}
    body.update(fields)
    return body


def test_the_api_takes_and_returns_the_type_and_its_default_severity(reporter):
    ServiceFactory(name="X", slug="x")
    token = personal_token(reporter)
    created = call("post", "/api/incidents", token, report_body(type="security"))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["type"] == "security" and body["restricted"] is True and body["severity"] == "high"
    assert body["title"] == "Leaked keys"  # the reporter sees their own restricted report
    plain = call("post", "/api/incidents", token, report_body(severity="low")).json()
    assert plain["type"] == "downtime" and plain["restricted"] is False
    listed = call("get", "/api/incidents?type=security", token).json()
    assert [i["ref"] for i in listed["items"]] == [body["ref"]]


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"type": "earthquake", "severity": "low"}, "type", "There is no incident type “earthquake”"),
        ({"type": "downtime"}, "severity", "This field is required. The type “downtime” has no default severity"),
        ({"type": 7}, "type", "valid string"),
    ],
)
def test_bad_types_are_a_422_naming_the_field(reporter, fields, field, message):
    ServiceFactory(name="X", slug="x")
    response = call("post", "/api/incidents", personal_token(reporter), report_body(**fields))
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["detail"]}
    assert message in errors[field], errors
    assert "downtime, performance, security" in errors[field] or field != "type" or fields["type"] == 7
    assert Incident.objects.count() == 0


def test_an_unknown_type_filter_is_a_422_naming_it(reporter):
    response = call("get", "/api/incidents?type=earthquake", personal_token(reporter))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "type"


def test_an_integration_reporting_a_restricted_incident_gets_only_a_receipt(db):
    ServiceFactory(name="X", slug="x")
    created = call("post", "/api/incidents", integration_token(), report_body(type="security"))
    assert created.status_code == 201
    body = created.json()
    assert body["restricted"] is True and body["title"] == "" and body["description"] == ""
    assert call("get", f"/api/incidents/{body['ref']}", integration_token("other")).status_code == 404


# --- Alertmanager ----------------------------------------------------------------------


def _with_label(value: str) -> dict:
    payload = load("firing")
    payload["commonLabels"]["incident_type"] = value
    return payload


def test_alertmanager_takes_the_type_from_the_incident_type_label(am):
    response = am.post(_with_label("Security"))
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert incident.type.slug == "security" and incident.restricted
    assert response.json()["type"] == "security"
    assert "warnings" not in response.json()


def test_alertmanager_uses_the_integrations_default_then_downtime(am, integration):
    integration[0].default_incident_type = IncidentType.objects.get(slug="performance")
    integration[0].save()
    assert am.post(load("firing")).json()["type"] == "performance"


def test_an_unknown_label_keeps_the_alert_and_names_the_label(am):
    response = am.post(_with_label("earthquake"))
    assert response.status_code == 200  # a 4xx would make Alertmanager drop the alert
    body = response.json()
    assert body["type"] == "downtime"
    assert body["warnings"][0]["field"] == "labels.incident_type"
    assert "There is no incident type “earthquake”; downtime was used" in body["warnings"][0]["message"]


# --- restricting, lifting, people --------------------------------------------------------


@pytest.fixture
def security(db):
    user = make_user("sam", roles.RESPONDER, first_name="Sam", last_name="Security")
    user.groups.add(Group.objects.get(name=roles.SECURITY))
    return user


def test_restricting_is_a_timeline_entry_with_a_reason_and_leaves_the_status_page(clients, reporter, responder):
    incident = make_incident(by=reporter, public=True)
    refused = clients["responder"].post(f"/incidents/{incident.ref}/restrict/", {"reason": ""})
    assert refused.status_code == 422
    assert not Incident.objects.get(pk=incident.pk).restricted
    clients["responder"].post(f"/incidents/{incident.ref}/restrict/", {"reason": "Card numbers in the logs."})
    incident.refresh_from_db()
    assert incident.restricted and not incident.public
    entry = incident.timeline.get(kind=Kind.ACCESS)
    assert entry.text == "Card numbers in the logs." and entry.data == {
        "restricted": True,
        "was_public": True,
        "via": "web",
    }
    # The reporter still sees it; the viewer no longer does.
    assert clients["reporter"].get(f"/incidents/{incident.ref}/").status_code == 200
    assert clients["viewer"].get(f"/incidents/{incident.ref}/").status_code == 404
    with pytest.raises(workflow.InvalidTransition, match="restricted"):
        workflow.set_public(incident, by=responder, public=True)


def test_only_the_security_group_and_managers_lift_it(clients, reporter, responder, security):
    incident = make_incident(by=reporter, type=security_type())
    workflow.take(incident, by=responder)  # the lead sees it, but may not declassify it
    with pytest.raises(PermissionDenied):
        workflow.lift_restriction(incident, by=responder, reason="Fine.")
    assert clients["responder"].post(f"/incidents/{incident.ref}/unrestrict/", {"reason": "x"}).status_code == 403
    workflow.lift_restriction(incident, by=security, reason="No data was exposed.")
    incident.refresh_from_db()
    assert not incident.restricted
    assert incident.timeline.filter(kind=Kind.ACCESS, data__restricted=False, text="No data was exposed.").exists()
    assert clients["viewer"].get(f"/incidents/{incident.ref}/").status_code == 200


def test_people_added_by_name_see_it_and_are_told(clients, reporter, viewer, security):
    incident = make_incident(by=security, type=security_type())
    assert clients["viewer"].get(f"/incidents/{incident.ref}/").status_code == 404
    client = Client()
    client.force_login(security)
    response = client.post(f"/incidents/{incident.ref}/participants/", {"username": "vic"})
    assert response.status_code == 302
    assert clients["viewer"].get(f"/incidents/{incident.ref}/").status_code == 200
    told = Notification.objects.filter(entry__kind=Kind.ACCESS, user=viewer)
    assert told.count() == 1
    assert "Participant added: Vic Viewer" in told.get().subject
    unknown = client.post(f"/incidents/{incident.ref}/participants/", {"username": "nobody-here"})
    assert unknown.status_code == 422 and "There is nobody with the username" in unknown.content.decode()
    no_role = make_user("newbie")
    with pytest.raises(workflow.InvalidTransition, match="no role"):
        workflow.add_participant(incident, by=security, user=no_role)
    client.post(f"/incidents/{incident.ref}/participants/", {"username": "vic", "remove": "1"})
    assert clients["viewer"].get(f"/incidents/{incident.ref}/").status_code == 404
    assert incident.timeline.filter(kind=Kind.ACCESS).count() == 2


def test_a_page_for_a_restricted_incident_says_only_ref_and_severity_to_someone_not_allowed(reporter, responder):
    incident = make_incident(by=reporter, type=security_type(), title="Root keys on pastebin")
    entry = workflow.record(incident, by=None, kind=Kind.PAGE, text="Paged Rob", user_id=responder.pk)
    outbox.queue_page(entry, responder, slack_member_id="U024BE7LH")
    email = Notification.objects.get(event_key=f"entry:{entry.pk}", channel=Notification.Channel.EMAIL)
    assert "Root keys" not in email.subject + email.body_text
    assert incident.ref in email.subject and "restricted" in email.body_text


def test_pages_of_the_list_stay_bounded_for_someone_not_allowed(clients, reporter, django_assert_max_num_queries):
    for n in range(30):
        make_incident(by=reporter, title=f"I{n}", type=security_type() if n % 2 else None)
    clients["viewer"].get("/incidents/")
    # As many as for everybody (incidents/tests/test_list.py): the rule is a condition, not a query.
    with django_assert_max_num_queries(12):
        response = clients["viewer"].get("/incidents/")
    assert response.context["page"].paginator.count == 15


def test_two_reasons_at_once_to_see_a_restricted_incident_are_as_good_as_one(
    clients, responder, other_responder, manager
):
    """Reporter, lead, participant: each reason is enough, and two at once too."""
    incident = make_incident(by=responder, type=security_type())
    workflow.take(incident, by=responder)
    incident.refresh_from_db()
    assert (incident.reporter_id, incident.lead_id) == (responder.pk, responder.pk) and incident.restricted
    assert list(Incident.objects.visible_to(responder)) == [incident]
    assert clients["responder"].get(f"/incidents/{incident.ref}/").status_code == 200
    workflow.add_participant(incident, by=manager, user=other_responder)
    workflow.set_lead(incident, by=manager, lead=other_responder)  # a participant who now leads it
    assert list(Incident.objects.visible_to(other_responder)) == [incident]
    client = Client()
    client.force_login(other_responder)
    assert client.get(f"/incidents/{incident.ref}/").status_code == 200
