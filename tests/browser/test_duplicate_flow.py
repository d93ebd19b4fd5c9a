"""Two people reported the same outage: the responder closes the second into the first from the
phone, without JavaScript, and undoes it when it turns out to be something else."""

import pytest
from playwright.sync_api import expect

from incidents.models import Incident
from incidents.tests.factories import ServiceFactory, make_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_close_a_duplicate_into_its_primary_and_undo_it(sign_in, reporter, responder, javascript):
    checkout = ServiceFactory(name="Checkout")
    primary = make_incident(by=reporter, title="Checkout returns 500", service=checkout)
    duplicate = make_incident(by=reporter, title="Cannot pay", service=checkout)
    page = sign_in(responder, javascript=javascript, viewport={"width": 390, "height": 844})
    page.goto(f"/incidents/{duplicate.ref}/")
    page.locator("#links-panel summary", has_text="Duplicate of…").click()
    page.get_by_label("Duplicate of").fill(primary.ref)
    page.get_by_role("button", name="Close into it").click()
    page.wait_for_url(f"**/incidents/{primary.ref}/")
    expect(page.get_by_text(f"{duplicate.ref} is closed into {primary.ref}")).to_be_visible()
    expect(page.locator("#links-panel .duplicates")).to_contain_text(f"{duplicate.ref} Cannot pay")

    page.goto(f"/incidents/{duplicate.ref}/")
    banner = page.locator(".duplicate-banner")
    expect(banner).to_contain_text(f"A duplicate of {primary.ref}: closed into it.")
    banner.locator("summary").click()
    banner.get_by_label("Why is it not a duplicate?").fill("A card scheme outage, not ours.")
    banner.get_by_role("button", name="Make it its own incident again").click()
    expect(page.get_by_text(f"{duplicate.ref} is its own incident again.")).to_be_visible()
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.duplicate_of_id) == (Incident.Status.REPORTED, None)
