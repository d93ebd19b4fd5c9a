"""At 3 a.m. on a phone: the responder starts a status update from the suggested phase, sees who
will hear it before posting, posts, and the next phase is suggested; the same without JavaScript."""

import pytest
from playwright.sync_api import expect

from incidents import workflow
from incidents.models import StatusUpdate, Subscription
from incidents.tests.factories import ServiceFactory, make_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def incident(reporter, responder, viewer):
    service = ServiceFactory(name="Checkout", is_public=True)
    incident = make_incident(by=reporter, service=service, public=True)
    workflow.acknowledge(incident, by=responder)
    Subscription.objects.create(user=viewer, incident=incident)
    Subscription.objects.create(email="cto@partner.example", service=service)
    return incident


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_from_the_suggested_phase_to_the_next(sign_in, other_responder, incident, javascript):
    page = sign_in(other_responder, javascript=javascript, viewport=PHONE)
    page.goto(f"/incidents/{incident.ref}/")
    phases = page.get_by_role("navigation", name="Start from a template")
    expect(phases.get_by_role("link", name="Investigating next")).to_be_visible()
    phases.get_by_role("link", name="Investigating next").click()
    message = page.locator("#update-form textarea[name=message]")
    expect(message).to_have_value(
        "We are investigating a problem with Checkout. We will post another update as soon as we know more."
    )
    expect(page.locator("#update-form input[name=public]")).to_be_checked()
    if javascript:
        # The counts load as the responder starts writing (focus, or typing once htmx has settled).
        message.click()
        message.press("End")
        message.press_sequentially(" ")
        expect(page.locator("#update-audience")).to_contain_text(
            "the status page; 0 status page subscribers and 1 outside stakeholder by email; 2 team members by email"
        )
    else:
        page.get_by_role("link", name="Who will hear it?").click()
        expect(page.locator("#update-audience")).to_contain_text("1 outside stakeholder by email")
        page.go_back()
    message.fill("We are investigating failed card payments at checkout.")  # replaces the space typed above
    page.get_by_role("button", name="Post update").click()
    expect(page.locator("#updates-panel")).to_contain_text("Investigating: We are investigating failed card payments")
    expect(phases.get_by_role("link", name="Identified next")).to_be_visible()
    update = StatusUpdate.objects.get()
    assert (update.phase, update.public) == ("Investigating", True)
