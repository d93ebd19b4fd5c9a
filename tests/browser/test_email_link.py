"""The email action link on a phone with JavaScript off: the confirmation page fits 390 px, its
one button is a 44 px tap target in the viewport, and pressing it acknowledges as the recipient."""

import pytest

from incidents.models import Status
from incidents.notifications import actions
from incidents.tests.factories import make_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def fits_and_is_tappable(page, selector: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator(selector).bounding_box()
    assert box is not None
    assert box["height"] >= 44 and box["width"] >= 44
    assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]


def test_acknowledge_from_the_email_link_on_a_phone_without_javascript(browser, live_server, reporter, responder):
    incident = make_incident(by=reporter, severity="critical", title="Checkout returns 500 for every card payment")
    token = actions.make_token(responder, incident, actions.ACKNOWLEDGE)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(f"/email-actions/{token}/")
        fits_and_is_tappable(page, "#email-action button[type=submit]")
        incident.refresh_from_db()
        assert incident.status == Status.REPORTED  # opening the link changed nothing
        page.click("#email-action button[type=submit]")
        assert page.locator("#email-action-done").inner_text() == f"{incident.ref} is acknowledged."
        fits_and_is_tappable(page, "#email-action a.btn")
        incident.refresh_from_db()
        assert (incident.status, incident.lead) == (Status.ACKNOWLEDGED, responder)

        page.goto(f"/email-actions/{token}/")  # the same link again
        assert "already used" in page.locator("#email-action-refused").inner_text()
        fits_and_is_tappable(page, "#email-action a.btn")
    finally:
        context.close()
