"""The whole life of an incident with JavaScript off, on a phone: report → acknowledge → note →
status update → mitigate → resolve (refused once, then confirmed) → review → publish → close.
Every disclosure is a <details>, every action a plain form."""

import pytest
from playwright.sync_api import expect

from incidents.models import Incident, StatusUpdate
from incidents.tests.factories import ServiceFactory
from reviews.models import Review
from tests.browser.conftest import PHONE, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _policy(settings):
    settings.REVIEW_REQUIRED_SEVERITIES = ["critical", "high"]  # the shipped default, stated


def test_report_to_close_without_javascript(open_as, reporter, responder, manager):
    ServiceFactory(name="Checkout")

    # The reporter reports from the menu.
    page = open_as(reporter, javascript=False, viewport=PHONE)
    page.goto("/")
    page.locator("details.nav-menu summary").click()
    page.locator("details.nav-menu").get_by_role("link", name="Report", exact=True).click()
    # The type first (a plain GET form), then the report with the type's policy filled in.
    page.check("input[name=type][value=downtime]")
    page.get_by_role("button", name="Next").click()
    page.fill("input[name=title]", "Checkout returns 500 for card payments")
    page.select_option("select[name=service]", label="Checkout")
    page.check("input[name=severity][value=critical]")
    page.fill("textarea[name=description]", "Every card payment fails since 03:10.")
    page.fill("textarea[name=impact]", "No customer can pay.")
    page.get_by_role("button", name="Report incident").click()
    page.wait_for_url("**/incidents/INC-*/")
    incident = Incident.objects.get(title="Checkout returns 500 for card payments")
    expect(page.locator("#messages")).to_contain_text(f"{incident.ref} reported")

    # The responder acknowledges from the dashboard: the card's button is on screen.
    page = open_as(responder, javascript=False, viewport=PHONE)
    page.goto("/")
    card = page.locator(f"tr[data-ref='{incident.ref}']")
    acknowledge = card.get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_be_in_viewport()
    acknowledge.click()
    expect(page.locator("#messages")).to_contain_text(f"{incident.ref} acknowledged")

    # A note, then a public status update, on the incident page.
    page.get_by_role("link", name=incident.ref).first.click()
    page.wait_for_url(f"**/incidents/{incident.ref}/")
    page.get_by_role("link", name="Newest entries / add a note").click()
    page.get_by_label("Add a note").fill("Payment provider answers slowly; rolling back deploy 512.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#messages")).to_contain_text("Note added")
    expect(page.locator("#timeline .timeline-entry").first).to_contain_text("rolling back deploy 512")
    page.get_by_label("Status update").fill("Card payments fail; a fix is being rolled out.")
    page.get_by_label("Public: for affected users").check()
    page.get_by_role("button", name="Post update").click()
    expect(page.locator("#messages")).to_contain_text("Update posted")

    # Mitigate… unfolds without JavaScript.
    page.locator("summary", has_text="Mitigate…").click()
    page.locator("#mitigate-panel").get_by_label("What was done").fill("Rolled back to 511")
    page.get_by_role("button", name="Mark mitigated").click()
    expect(page.locator("#messages")).to_contain_text("marked mitigated")

    # Resolve without the confirmation: refused, the form stays open, its error is focused.
    page.locator("summary", has_text="Resolve…").click()
    page.locator("#resolve-panel").get_by_label("Resolution summary").fill("Deploy 512 reverted.")
    page.get_by_role("button", name="Resolve incident").click()
    errors = page.locator("#resolve-errors")
    expect(errors).to_contain_text("Confirm that users are no longer affected")
    expect(errors).to_have_attribute("role", "alert")
    expect(errors).to_be_focused()
    expect(page.locator("#resolve-panel")).to_have_attribute("open", "")
    page.locator("#resolve-panel").get_by_label("I confirm").check()
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator("#messages")).to_contain_text(f"{incident.ref} resolved")
    assert horizontal_overflow(page) == 0

    # The review: started, written, submitted.
    page.locator("#review-panel").get_by_role("button", name="Start review").click()
    page.wait_for_url(f"**/reviews/{incident.ref}/edit/")
    page.fill("textarea[name=root_cause]", "Release 512 dropped the payments index.")
    page.get_by_role("button", name="Save review").click()
    page.wait_for_url(f"**/reviews/{incident.ref}/")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".review-state")).to_have_text("Review: In review")

    # The manager returns it once (Return to draft… is a <details>), then it comes back and is published.
    boss = open_as(manager, javascript=False, viewport=PHONE)
    boss.goto(f"/reviews/{incident.ref}/")
    boss.locator("summary", has_text="Return to draft…").click()
    boss.locator("#return-panel textarea, #return-panel input[type=text]").first.fill("Add the timeline, please.")
    boss.locator("#return-panel").get_by_role("button", name="Return to draft").click()
    expect(boss.locator(".review-state")).to_have_text("Review: Draft")
    page.goto(f"/reviews/{incident.ref}/")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".review-state")).to_have_text("Review: In review")
    boss.goto(f"/reviews/{incident.ref}/")
    boss.get_by_role("button", name="Approve and publish").click()
    expect(boss.locator(".review-state")).to_have_text("Review: Published")

    # And closes the incident.
    boss.goto(f"/incidents/{incident.ref}/")
    boss.get_by_role("button", name="Close").click()
    expect(boss.locator("#messages")).to_contain_text(f"{incident.ref} closed")

    incident.refresh_from_db()
    assert incident.status == Incident.Status.CLOSED
    assert incident.resolution_confirmed_by == responder
    assert Review.objects.get(incident=incident).state == Review.State.PUBLISHED
    assert StatusUpdate.objects.filter(incident=incident, public=True).count() == 1
    kinds = list(incident.timeline.order_by("created_at", "pk").values_list("kind", flat=True))
    assert kinds[:6] == ["reported", "status_change", "note", "status_update", "status_change", "status_change"]
