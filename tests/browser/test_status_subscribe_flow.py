"""A customer on a phone, during an outage, asks the status page for email updates, confirms
the link from the email, and hears the next public update; with and without JavaScript."""

import re

import pytest
from playwright.sync_api import expect

from incidents import workflow
from incidents.models import Notification, StatusSubscriber
from incidents.tests.factories import ServiceFactory, make_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_sign_up_confirm_and_hear_the_next_update(open_as, reporter, responder, javascript):
    checkout = ServiceFactory(name="Checkout", is_public=True)
    ServiceFactory(name="Search", is_public=True)
    incident = make_incident(by=reporter, service=checkout, public=True)
    page = open_as(None, javascript=javascript, viewport=PHONE)
    page.goto("/status/")
    page.get_by_role("link", name="Get email updates").click()
    page.get_by_label("Your email address").fill("ann@example.com")
    page.get_by_label("Checkout").check()
    page.get_by_role("button", name="Send me the link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert not StatusSubscriber.objects.exists()

    mail = Notification.objects.get(recipient="ann@example.com")
    link = re.search(r"http://\S+/status/subscribe/confirm/\S+/", mail.body_text).group(0)
    page.goto(link[link.index("/status/") :])
    page.get_by_role("button", name="Yes, send me updates").click()
    expect(page.get_by_role("status")).to_have_text(
        "ann@example.com will get email updates about Checkout. Every email has a link to stop them."
    )
    workflow.post_update(incident, by=responder, message="We are on it.", public=True)
    update = Notification.objects.get(recipient="ann@example.com", status_subscriber__isnull=False)
    assert "We are on it." in update.body_text
