"""A security incident's response with JavaScript off, on a phone: resolve refused while required
tasks are open, tick them, take a role, add and assign a task, then resolve. Every action is a
plain form that posts and comes back to the incident page."""

import pytest
from playwright.sync_api import expect

from incidents import workflow
from incidents.models import IncidentType, RoleAssignment, Task
from incidents.tests.factories import make_incident
from tests.browser.conftest import PHONE, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_checklist_roles_and_resolve_without_javascript(open_as, manager, responder):
    incident = make_incident(by=manager, type=IncidentType.objects.get(slug="security"), title="Leaked API key")
    workflow.add_participant(incident, by=manager, user=responder)
    page = open_as(responder, javascript=False, viewport=PHONE)
    page.goto(f"/incidents/{incident.ref}/")
    assert not horizontal_overflow(page)
    expect(page.locator("#tasks")).to_contain_text("0 of 5 done")

    # Resolving is refused, naming what is open.
    page.locator("#resolve-panel summary").click()
    page.get_by_label("Resolution summary").fill("Key rotated.")
    page.locator("#resolve-panel input[name=confirmed]").check()
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator("#messages")).to_contain_text("Resolve blocked: 4 required tasks open: Preserve evidence")

    # Tick the four required tasks, one plain form each.
    for task in Task.objects.filter(incident=incident, required=True).order_by("position"):
        page.get_by_role("button", name=f"Tick: {task.title}").click()
        expect(page.locator("#messages")).to_contain_text("ticked")
    expect(page.locator("#tasks")).to_contain_text("4 of 5 done")
    expect(page.get_by_role("button", name="Untick: Rotate credentials")).to_be_visible()

    # Take the scribe role: a <details> disclosure, a username, Assign.
    scribe = page.locator("li.role[data-role=scribe]")
    scribe.locator("summary").click()
    scribe.get_by_label("Username").fill("rob")
    scribe.get_by_role("button", name="Assign").click()
    expect(page.locator("#messages")).to_contain_text(f"Rob Responder is Scribe of {incident.ref} now.")
    assert RoleAssignment.objects.get(incident=incident).user == responder

    # An ad hoc task, then given to the manager.
    page.get_by_label("New task").fill("Ask the contractor to delete the fork")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("#messages")).to_contain_text("Task added.")
    added = Task.objects.get(incident=incident, title="Ask the contractor to delete the fork")
    row = page.locator(f"#task-{added.pk}")
    row.locator("summary").click()
    row.get_by_label("Username (empty: nobody)").fill("maya")
    row.get_by_role("button", name="Assign").click()
    expect(page.locator(f"#task-{added.pk}")).to_contain_text("For Maya Manager")
    assert not horizontal_overflow(page)

    # Now it resolves.
    page.locator("#resolve-panel summary").click()
    page.get_by_label("Resolution summary").fill("Key rotated, exposure assessed, legal told.")
    page.locator("#resolve-panel input[name=confirmed]").check()
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator("#messages")).to_contain_text(f"{incident.ref} resolved.")
    incident.refresh_from_db()
    assert incident.status == "resolved"
