"""Custom fields per incident type (docs/incident-types.md): defined in the admin, asked on the
report form after the type, shown and edited on the incident, every change on the timeline."""

import re

import pytest
from django.core.exceptions import ValidationError

from conftest import make_user
from incidents import roles, workflow
from incidents.models import CustomField, Incident, IncidentType, Notification, Subscription, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident, type_inlines_unchanged

Kind = CustomField.Kind


@pytest.fixture
def security_fields(db):
    """The Security type asks five things, one of each kind; "Data affected?" is required."""
    security = IncidentType.objects.get(slug="security")
    fields = [
        CustomField.objects.create(
            type=security,
            label="Data affected?",
            kind=Kind.CHOICE,
            choices="yes\nno\nunknown",
            required=True,
            position=1,
            help_text="Personal or customer data.",
        ),
        CustomField.objects.create(type=security, label="Records exposed", kind=Kind.NUMBER, position=2),
        CustomField.objects.create(type=security, label="Detected on", kind=Kind.DATE, position=3),
        CustomField.objects.create(type=security, label="Legal contact", kind=Kind.USER, position=4),
        CustomField.objects.create(type=security, label="Ticket", kind=Kind.TEXT, position=5),
    ]
    return {f.name: f for f in fields}


def report_data(**extra) -> dict:
    return {
        "type": "security",
        "fields_for": "security",
        "title": "Keys in a public repository",
        "service": str(ServiceFactory(name="Checkout").pk),
        "severity": "high",
        "occurred_at": "2026-01-05 10:00",
        "description": "A fork holds .env.",
        "impact": "Unknown.",
        "logs": "",
        **extra,
    }


# --- definitions -------------------------------------------------------------------------


def test_names_are_made_from_labels_and_checked(security_fields):
    assert sorted(security_fields) == ["data_affected", "detected_on", "legal_contact", "records_exposed", "ticket"]
    security = IncidentType.objects.get(slug="security")
    with pytest.raises(ValidationError) as refused:
        CustomField(type=security, label="Customers notified?", kind=Kind.CHOICE).full_clean()
    assert "A choice field needs at least one choice" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        CustomField(type=security, label="Count", kind=Kind.NUMBER, choices="1\n2").full_clean()
    assert "Only choice fields have choices" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        CustomField(type=security, label="Bad", name="Bad-Name", kind=Kind.TEXT).full_clean()
    assert "lower-case letters, digits and underscores" in str(refused.value)
    with pytest.raises(ValidationError):
        CustomField(type=security, label="Yes twice", kind=Kind.CHOICE, choices="yes\nYes").full_clean()
    with pytest.raises(ValidationError):  # the name is unique within the type
        CustomField(type=security, label="Ticket", kind=Kind.TEXT).full_clean()


def test_managers_define_fields_in_the_admin(clients):
    downtime = IncidentType.objects.get(slug="downtime")
    data = {
        "name": downtime.name,
        "slug": downtime.slug,
        "default_severity": "",
        "position": "10",
        "description": downtime.description,
        **type_inlines_unchanged(),
        "custom_fields-TOTAL_FORMS": "1",
        "custom_fields-0-label": "Customers notified?",
        "custom_fields-0-name": "",
        "custom_fields-0-kind": "choice",
        "custom_fields-0-choices": "yes\nno",
        "custom_fields-0-position": "1",
        "custom_fields-0-help_text": "",
        "review_sections-TOTAL_FORMS": "1",
        "review_sections-0-title": "Customer communication",
        "review_sections-0-name": "",
        "review_sections-0-guidance": "",
        "review_sections-0-position": "1",
    }
    response = clients["manager"].post(f"/admin/incidents/incidenttype/{downtime.pk}/change/", data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    field = CustomField.objects.get(type=downtime)
    assert (field.name, field.choice_list) == ("customers_notified", ["yes", "no"])
    assert downtime.review_sections.get().name == "customer_communication"
    # A responder has no admin at all.
    assert clients["responder"].get(f"/admin/incidents/incidenttype/{downtime.pk}/change/").status_code in (302, 403)


# --- the report form ---------------------------------------------------------------------


def test_the_report_form_asks_the_types_fields_after_choosing_it(clients, security_fields):
    page = clients["reporter"].get("/incidents/new/?type=security")
    html = page.content.decode()
    assert page.status_code == 200
    for name in security_fields:
        assert f'name="fields-{name}"' in html
    assert "Personal or customer data." in html
    assert '<input type="hidden" name="fields_for" value="security">' in html
    # Downtime has none: no fieldset at all.
    assert 'name="fields-' not in clients["reporter"].get("/incidents/new/?type=downtime").content.decode()
    # With JavaScript, changing the type swaps in its fields (htmx), the same partial.
    assert 'hx-get="/incidents/new/"' in html and 'hx-target="#type-fields"' in html
    partial = clients["reporter"].get(
        "/incidents/new/?type=security", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="type-fields"
    )
    assert partial.status_code == 200
    assert partial.content.decode().lstrip().startswith('<div id="type-fields"')
    assert "<html" not in partial.content.decode()


def test_a_report_stores_each_kind_as_json(clients, security_fields, responder):
    response = clients["reporter"].post(
        "/incidents/new/",
        report_data(
            **{
                "fields-data_affected": "unknown",
                "fields-records_exposed": "1200",
                "fields-detected_on": "2026-01-05",
                "fields-legal_contact": responder.username,
                "fields-ticket": "SEC-12",
            }
        ),
    )
    assert response.status_code == 302, response.content.decode()
    incident = Incident.objects.get()
    assert incident.custom_fields == {
        "data_affected": "unknown",
        "records_exposed": 1200,
        "detected_on": "2026-01-05",
        "legal_contact": responder.pk,
        "ticket": "SEC-12",
    }
    page = clients["manager"].get(incident.get_absolute_url()).content.decode()
    assert re.search(r'<dd class="text-break" data-field="legal_contact">[^<]*Responder', page)
    assert 'data-field="records_exposed">1200<' in page


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("data_affected", "", "Choose one."),
        ("data_affected", "maybe", "Choose one of: yes, no, unknown."),
        ("records_exposed", "many", "Enter a number, like 42 or 3.5."),
        ("detected_on", "05/01/2026", "Enter a date like 2026-12-31."),
        ("legal_contact", "ghost", "There is no Beacon user with this username."),
        ("ticket", "x" * 2001, "Ensure this value has at most 2000 characters"),
    ],
)
def test_bad_values_are_refused_beside_their_field_and_nothing_is_written(
    clients, security_fields, name, value, message
):
    data = report_data(**{"fields-data_affected": "no", f"fields-{name}": value})
    response = clients["reporter"].post("/incidents/new/", data)
    assert response.status_code == 422
    assert message in response.content.decode()
    errors = response.context["fields_form"].errors
    assert list(errors) == [name]
    assert not Incident.objects.exists()
    # The reporter's text is kept.
    assert "Keys in a public repository" in response.content.decode()


def test_changing_the_type_on_the_full_form_brings_its_fields_without_javascript(clients, security_fields):
    # The form was opened for Downtime (no fields); the reporter picks Security and submits.
    data = report_data(fields_for="downtime")
    response = clients["reporter"].post("/incidents/new/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'name="fields-data_affected"' in html
    assert "fill in its fields below" in html
    assert "This field is required" not in html and "Choose one." not in html  # not blamed for unseen fields
    assert not Incident.objects.exists()
    data["fields_for"] = "security"
    data["fields-data_affected"] = "yes"
    assert clients["reporter"].post("/incidents/new/", data).status_code == 302
    assert Incident.objects.get().custom_fields == {"data_affected": "yes"}


# --- the incident page and editing -------------------------------------------------------


def security_incident(by, **values):
    return make_incident(by=by, type=IncidentType.objects.get(slug="security"), custom_fields=values)


def test_the_incident_page_shows_every_field_set_or_not(clients, security_fields, manager):
    incident = security_incident(manager, data_affected="yes", records_exposed=3.5)
    html = clients["manager"].get(incident.get_absolute_url()).content.decode()
    assert "Security incident: details" in html
    assert 'data-field="data_affected">yes<' in html
    assert 'data-field="records_exposed">3.5<' in html
    assert re.search(r'text-body-secondary" data-field="ticket">Not set<', html)


def test_editing_values_is_a_timeline_entry_with_labels_and_names(clients, security_fields, manager, responder):
    incident = security_incident(manager, data_affected="unknown")
    form = clients["manager"].get(f"/incidents/{incident.ref}/edit/")
    assert form.context["fields_form"].initial == {"data_affected": "unknown"}
    data = {
        **{k: v for k, v in form.context["form"].initial.items() if k not in ("service", "occurred_at")},
        "service": incident.service_id,
        "occurred_at": incident.occurred_at.strftime("%Y-%m-%d %H:%M"),
        "fields_for": "security",
        "fields-data_affected": "yes",
        "fields-legal_contact": responder.username,
    }
    response = clients["manager"].post(f"/incidents/{incident.ref}/edit/", data)
    assert response.status_code == 302, response.content.decode()
    incident.refresh_from_db()
    assert incident.custom_fields == {"data_affected": "yes", "legal_contact": responder.pk}
    assert incident.version == 2
    entry = incident.timeline.get(kind=TimelineEntry.Kind.EDIT)
    assert entry.data["changes"] == {
        "Data affected?": ["unknown", "yes"],
        "Legal contact": ["Not set", "Rob Responder"],
    }
    page = clients["manager"].get(incident.get_absolute_url()).content.decode()
    assert "Data affected?: <del>unknown</del> → yes" in page

    # A stale version is refused (409) and nothing changes.
    data["fields-data_affected"] = "no"
    stale = clients["manager"].post(f"/incidents/{incident.ref}/edit/", data)
    assert stale.status_code == 409
    incident.refresh_from_db()
    assert incident.custom_fields["data_affected"] == "yes"
    assert "Data affected?" in stale.content.decode()  # what was typed, to copy from


def test_a_required_field_cannot_be_emptied_by_an_edit(clients, security_fields, manager):
    incident = security_incident(manager, data_affected="yes")
    data = {
        "type": "security",
        "fields_for": "security",
        "title": incident.title,
        "service": incident.service_id,
        "severity": incident.severity,
        "occurred_at": incident.occurred_at.strftime("%Y-%m-%d %H:%M"),
        "description": incident.description,
        "impact": incident.impact,
        "logs": "",
        "version": 1,
        "fields-data_affected": "",
    }
    response = clients["manager"].post(f"/incidents/{incident.ref}/edit/", data)
    assert response.status_code == 422
    assert response.context["fields_form"].errors == {"data_affected": ["Choose one."]}
    incident.refresh_from_db()
    assert incident.custom_fields == {"data_affected": "yes"} and incident.version == 1


@pytest.mark.parametrize(
    "role, may", [("reporter", True), ("responder", True), ("manager", True), ("viewer", False), ("nobody", False)]
)
def test_who_may_edit_the_fields(clients, users, reporter, role, may):
    incident = make_incident(by=reporter)  # downtime, reported by the reporter
    response = clients[role].get(f"/incidents/{incident.ref}/edit/")
    assert (response.status_code == 200) == may, response.status_code
    if not may:
        assert response.status_code in (302, 403)


def test_a_reporter_edits_only_their_own_report_while_it_is_reported(clients, reporter, responder):
    other = make_user("ora", roles.REPORTER)
    incident = make_incident(by=other)
    assert clients["reporter"].get(f"/incidents/{incident.ref}/edit/").status_code == 403
    mine = make_incident(by=reporter)
    workflow.acknowledge(mine, by=responder)
    assert clients["reporter"].get(f"/incidents/{mine.ref}/edit/").status_code == 403


# --- bounded queries ----------------------------------------------------------------------


def test_the_report_form_and_incident_page_run_a_fixed_number_of_queries(
    clients, security_fields, manager, responder, django_assert_max_num_queries
):
    security = IncidentType.objects.get(slug="security")
    for n in range(10):  # more fields, people and incidents than anyone has: the count stays
        CustomField.objects.create(type=security, label=f"Person {n}", kind=Kind.USER, position=10 + n)
    for n in range(30):
        make_user(f"user{n}", roles.RESPONDER)
    people = {f"person_{n}": responder.pk for n in range(10)}
    incident = security_incident(manager, data_affected="no", legal_contact=manager.pk, **people)
    client = clients["manager"]
    client.get("/incidents/new/?type=security")
    # Session, user, profile, permissions (2), the chosen type, its fields, the people (once for all
    # 11 person fields), the default type, the types and the services.
    with django_assert_max_num_queries(11):
        response = client.get("/incidents/new/?type=security")
    assert response.content.decode().count('name="fields-person_') == 10
    client.get(incident.get_absolute_url())
    # test_detail's 12, plus the people named in the fields, plus who is paged next while nobody has
    # acknowledged (the paging panel: the ladder so far, the policy and its steps, the rotations).
    with django_assert_max_num_queries(16):
        page = client.get(incident.get_absolute_url())
    assert page.content.decode().count("Responder") >= 10
    with django_assert_max_num_queries(12):
        client.get(f"/incidents/{incident.ref}/edit/")


# --- public surfaces ----------------------------------------------------------------------


def test_values_never_reach_the_status_page_or_outside_stakeholders(clients, reporter, responder):
    downtime = IncidentType.objects.get(slug="downtime")
    CustomField.objects.create(type=downtime, label="Customer ticket", kind=Kind.TEXT)
    service = ServiceFactory(name="Checkout")
    Subscription.objects.create(email="press@outside.example", service=service)
    incident = make_incident(by=reporter, service=service, custom_fields={"customer_ticket": "FIELDMARK-1"})
    workflow.set_public(incident, by=responder, public=True)
    workflow.post_update(incident, by=responder, message="We are on it.", public=True)
    incident.refresh_from_db()
    changes = {"custom_fields": {"customer_ticket": "FIELDMARK-2"}}
    workflow.edit(incident, by=responder, version=incident.version, changes=changes)
    workflow.change_severity(incident, by=responder, severity="critical", reason="Spreading.")
    workflow.resolve(incident, by=responder, summary="Fixed.", confirmed=True)
    outside = list(Notification.objects.filter(recipient="press@outside.example"))
    assert len(outside) >= 2  # the public update, the raise, the resolution: the test reads real mail
    for row in outside:
        assert "FIELDMARK" not in f"{row.subject}{row.body_text}{row.body_html}"
    for url in ["/status/", f"/status/incidents/{incident.ref}/", "/status/feed.atom"]:
        response = clients["anonymous"].get(url)
        assert response.status_code == 200, url
        assert "FIELDMARK" not in response.content.decode(), url
    # …while the team sees both values, the edit on the timeline.
    assert "FIELDMARK-1</del> → FIELDMARK-2" in clients["viewer"].get(incident.get_absolute_url()).content.decode()
