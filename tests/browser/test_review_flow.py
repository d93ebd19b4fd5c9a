"""Resolve → write the review → add an action item → submit → a manager publishes → the incident closes.

Uses the browser suite's `sign_in` fixture (tests/browser/conftest.py: Playwright driving
Debian's Chromium against pytest-django's live server).
"""

import pytest
from playwright.sync_api import expect

from incidents import workflow
from incidents.models import Incident
from incidents.tests.factories import ServiceFactory, make_incident
from reviews.models import ActionItem, Review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _policy(settings):
    settings.REVIEW_REQUIRED_SEVERITIES = ["critical", "high"]  # the shipped default, stated


def test_resolve_review_publish_close(sign_in, reporter, responder, manager):
    incident = make_incident(
        by=reporter, title="Checkout returns 500", severity="critical", service=ServiceFactory(name="Checkout")
    )
    workflow.acknowledge(incident, by=responder)

    # The responder resolves it in the page.
    page = sign_in(responder)
    page.goto(f"/incidents/{incident.ref}/")
    page.locator("summary", has_text="Resolve…").click()
    page.fill("#resolve-panel textarea[name=summary]", "Release 42 rolled back.")
    page.check("#resolve-panel input[name=confirmed]")
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator("#messages .alert-success")).to_contain_text(f"{incident.ref} resolved")

    # The review panel offers the review; it opens pre-filled.
    expect(page.locator("#review-panel")).to_contain_text("can be closed once its review is published")
    page.locator("#review-panel").get_by_role("button", name="Start review").click()
    page.wait_for_url(f"**/reviews/{incident.ref}/edit/")
    expect(page.locator("textarea[name=summary]")).to_have_value(
        "Card payments fail with a 500.\n\n**Resolution:** Release 42 rolled back."
    )
    expect(page.locator("textarea[name=timeline]")).to_contain_text("Reported as Critical (Rita Reporter)")
    page.fill("textarea[name=root_cause]", "Release 42 dropped the **payments** index.")
    page.fill("textarea[name=lessons_learned]", "Check query plans before release.")
    page.get_by_role("button", name="Save review").click()
    page.wait_for_url(f"**/reviews/{incident.ref}/")
    expect(page.locator("#section-root_cause")).to_contain_text("Release 42 dropped the payments index.")
    expect(page.locator("#section-root_cause strong")).to_have_text("payments")

    # An action item, with a bad link first: the form says why and keeps the rest.
    form = page.locator("#add-action-item")
    form.locator("input[name=title]").fill("Check query plans in CI")
    form.locator("select[name=owner]").select_option(label="Rob Responder")
    form.locator("select[name=type]").select_option("preventive")
    form.locator("select[name=priority]").select_option("high")
    form.locator("input[name=tracker_url]").fill("javascript:alert(1)")
    form.get_by_role("button", name="Add action item").click()
    expect(page.locator("#add-action-item")).to_contain_text("Enter a valid URL.")
    page.locator("#add-action-item input[name=tracker_url]").fill("https://tracker.example.com/OPS-42")
    page.locator("#add-action-item").get_by_role("button", name="Add action item").click()
    expect(page.locator("#messages .alert-success")).to_contain_text("Action item added.")
    expect(page.locator("#action-items tbody tr")).to_have_count(1)
    expect(page.locator("#action-items")).to_contain_text("Check query plans in CI")

    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".review-state")).to_have_text("Review: In review")
    expect(page.get_by_role("button", name="Approve and publish")).to_have_count(0)

    # The manager cannot close yet: the refusal links to the review.
    boss = sign_in(manager)
    boss.goto(f"/incidents/{incident.ref}/")
    boss.get_by_role("button", name="Close").click()
    refusal = boss.locator("#messages .alert-danger")
    expect(refusal).to_contain_text("can be closed once its post-incident review is published")
    refusal.get_by_role("link", name="its post-incident review").click()
    boss.wait_for_url(f"**/reviews/{incident.ref}/")

    boss.get_by_role("button", name="Approve and publish").click()
    expect(boss.locator(".review-state")).to_have_text("Review: Published")
    expect(boss.locator("header")).to_contain_text("Approver: Maya Manager")
    expect(boss.get_by_role("link", name="Edit review")).to_have_count(0)

    boss.goto(f"/incidents/{incident.ref}/")
    boss.get_by_role("button", name="Close").click()
    expect(boss.locator("#messages .alert-success")).to_contain_text(f"{incident.ref} closed")
    expect(boss.locator("#timeline")).to_contain_text("Review approved and published.")

    incident.refresh_from_db()
    assert incident.status == Incident.Status.CLOSED
    review = Review.objects.get(incident=incident)
    assert review.state == Review.State.PUBLISHED and review.approver == manager
    assert ActionItem.objects.get().tracker_url == "https://tracker.example.com/OPS-42"
