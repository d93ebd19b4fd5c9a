"""Status update templates: the shipped phases, filling one in from the incident page (with and
without JavaScript), the suggested next phase, and the admin's check of placeholders."""

import re
from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from incidents import update_templates, workflow
from incidents.models import SHIPPED_UPDATE_TEMPLATES, StatusUpdate, UpdateTemplate, ensure_shipped_update_templates
from incidents.tests.factories import ServiceFactory, make_incident


@pytest.fixture
def incident(reporter, responder):
    incident = make_incident(
        by=reporter, service=ServiceFactory(name="Checkout"), occurred_at=datetime(2026, 12, 4, 2, 55, tzinfo=UTC)
    )
    workflow.acknowledge(incident, by=responder)
    return incident


def template(name: str) -> UpdateTemplate:
    return UpdateTemplate.objects.get(name=name)


def phase_links(body: str) -> list[str]:
    nav = body[body.index('aria-label="Start from a template"') :]
    nav = nav[: nav.index("</nav>")]
    return [re.sub(r"<[^>]+>|\s+", " ", link).split()[0] for link in re.findall(r"<a [^>]*>(.*?)</a>", nav, re.S)]


def test_four_phases_ship_in_order(db):
    assert [t.name for t in UpdateTemplate.objects.all()] == ["Investigating", "Identified", "Monitoring", "Resolved"]
    assert all(t.public for t in UpdateTemplate.objects.all())
    assert not any(update_templates.unknown_placeholders(t["message"]) for t in SHIPPED_UPDATE_TEMPLATES)


def test_a_database_in_use_keeps_what_managers_made_of_them(db, incident, responder):
    UpdateTemplate.objects.exclude(name="Identified").delete()
    workflow.post_update(incident, by=responder, message="x", public=False)
    ensure_shipped_update_templates()
    assert [t.name for t in UpdateTemplate.objects.all()] == ["Identified"]


def test_the_page_offers_every_phase_and_suggests_the_first(clients, incident):
    body = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert phase_links(body) == ["Investigating", "Identified", "Monitoring", "Resolved"]
    suggested = re.search(r'btn-outline-primary"[^>]*>(\w+) <span class="badge text-bg-primary">next</span>', body)
    assert suggested.group(1) == "Investigating"
    pk = template("Identified").pk
    assert f'href="/incidents/{incident.ref}/?template={pk}#update-form"' in body
    assert f'hx-get="/incidents/{incident.ref}/?template={pk}" hx-select="#updates-panel"' in body


def test_choosing_a_template_fills_the_form_from_the_incident(clients, incident):
    body = clients["responder"].get(f"/incidents/{incident.ref}/?template={template('Resolved').pk}").content.decode()
    form = body[body.index('id="update-form"') : body.index("</form>", body.index('id="update-form"'))]
    assert "The problem with Checkout that began at 2026-12-04 02:55 UTC is resolved." in form
    assert re.search(r'<input type="checkbox" name="public"[^>]*checked', form)
    assert re.search(r'<input type="hidden" name="phase" value="Resolved"', form)


def test_posting_it_records_the_phase_and_the_next_one_is_suggested(clients, incident):
    client = clients["responder"]
    response = client.post(
        f"/incidents/{incident.ref}/update/", {"message": "Looking into it.", "public": "on", "phase": "Investigating"}
    )
    assert response.status_code == 302
    update = StatusUpdate.objects.get()
    assert (update.phase, update.public) == ("Investigating", True)
    assert incident.timeline.get(kind="status_update").data["phase"] == "Investigating"
    body = client.get(f"/incidents/{incident.ref}/").content.decode()
    assert "<strong>Investigating:</strong> Looking into it." in body
    assert re.search(r'btn-outline-primary"[^>]*>Identified <span class="badge', body)


def test_nothing_is_suggested_after_the_last_phase(incident, responder):
    templates = update_templates.phases()
    workflow.post_update(incident, by=responder, message="Done.", public=True, phase="Resolved")
    assert update_templates.suggested(templates, list(StatusUpdate.objects.all())) is None
    # An update without a phase does not hide the one before it.
    workflow.post_update(incident, by=responder, message="One more thing.", public=True)
    recent = list(StatusUpdate.objects.order_by("-created_at", "-pk"))
    assert update_templates.suggested(templates, recent) is None
    assert update_templates.suggested([], recent) is None


def test_an_unknown_template_is_said_and_the_form_stays_empty(clients, incident):
    for bad in ["999999", "abc", "-1", "1e3"]:
        response = clients["responder"].get(f"/incidents/{incident.ref}/", {"template": bad})
        body = response.content.decode()
        assert response.status_code == 200
        assert f"There is no update template “{bad}”: pick one of the phases below." in body
        form = body[body.index('id="update-form"') : body.index("</form>", body.index('id="update-form"'))]
        assert not any(t.message[:20] in form for t in UpdateTemplate.objects.all())
        assert not re.search(r'name="phase" value="\w', form)


def test_an_unknown_phase_is_refused_and_nothing_is_posted(clients, incident):
    response = clients["responder"].post(
        f"/incidents/{incident.ref}/update/", {"message": "Hello.", "phase": "Panicking"}, follow=True
    )
    assert "There is no update template “Panicking”; pick one of the listed phases." in response.content.decode()
    htmx = clients["responder"].post(
        f"/incidents/{incident.ref}/update/", {"message": "Hello.", "phase": "x" * 61}, headers={"HX-Request": "true"}
    )
    assert "at most 60 characters" in htmx.content.decode()
    assert not StatusUpdate.objects.exists()


def test_those_who_cannot_post_see_no_templates(clients, incident, responder, manager):
    assert "Start from a template" not in clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    viewer_asks = clients["viewer"].get(f"/incidents/{incident.ref}/?template={template('Identified').pk}")
    assert "We have found the cause" not in viewer_asks.content.decode()
    workflow.resolve(incident, by=responder, summary="ok", confirmed=True)
    workflow.close(incident, by=manager)
    assert "Start from a template" not in clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()


def test_placeholders_reach_nothing_else_of_the_incident(incident):
    message = "{service} {reference} {title} {service.__class__} {0} {} {unknown} {{service}}"
    filled = update_templates.fill(message, incident)
    kept = "{service.__class__} {0} {} {unknown} {Checkout}"
    assert filled == f"Checkout {incident.ref} Checkout is down {kept}"
    assert update_templates.unknown_placeholders(message) == ["service.__class__", "0", "", "unknown"]


def test_the_admin_refuses_unknown_placeholders_and_the_page_shows_a_new_template_at_once(clients, incident):
    admin = clients["manager"]
    clients["responder"].get(f"/incidents/{incident.ref}/")  # the phases are cached now
    refused = admin.post(
        "/admin/incidents/updatetemplate/add/",
        {"name": "Degraded", "position": "15", "public": "on", "message": "{servce} is slow since {start}."},
    )
    assert refused.status_code == 200
    known = "{service}, {reference}, {title}, {started}"
    assert f"Unknown placeholders: {{servce}}, {{start}}. The placeholders are {known}." in refused.content.decode()
    assert not UpdateTemplate.objects.filter(name="Degraded").exists()
    saved = admin.post(
        "/admin/incidents/updatetemplate/add/",
        {"name": "Degraded", "position": "15", "public": "on", "message": "{service} is slow."},
    )
    assert saved.status_code == 302
    body = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert phase_links(body) == ["Investigating", "Degraded", "Identified", "Monitoring", "Resolved"]
    assert cache.get("choices:update_templates") is not None


def test_the_status_page_and_its_feed_show_the_phase(client, incident, responder):
    incident.service.is_public = True
    incident.service.save()
    workflow.set_public(incident, by=responder, public=True)
    workflow.post_update(incident, by=responder, message="The cause is a bad deploy.", public=True, phase="Identified")
    workflow.post_update(incident, by=responder, message="Internal.", public=False, phase="Monitoring")
    page = client.get(f"/status/incidents/{incident.ref}/").content.decode()
    assert "<strong>Identified</strong> — The cause is a bad deploy." in page
    assert "Internal." not in page and "<strong>Monitoring</strong>" not in page
    feed = client.get("/status/feed.atom").content.decode()
    assert "Identified — The cause is a bad deploy." in feed
