"""A second person notices the outage at 3 a.m.: as they type the title on their phone, the open
incident about it is offered, and one tap follows it instead of filing a duplicate."""

import pytest
from playwright.sync_api import expect

from incidents.models import Incident, Subscription
from incidents.tests.factories import ServiceFactory, make_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_a_title_offers_the_open_incident_to_follow(sign_in, reporter, responder):
    checkout = ServiceFactory(name="Checkout")
    ServiceFactory(name="Search")
    open_one = make_incident(by=responder, title="Card payments fail at checkout", service=checkout)
    make_incident(by=responder, title="Nightly export late", description="The job ran long.", service=checkout)
    page = sign_in(reporter, viewport={"width": 390, "height": 844})
    page.goto("/incidents/new/?type=downtime")
    page.fill("input[name=title]", "card payments failing")
    suggestions = page.locator("#report-matches")
    expect(suggestions).to_contain_text("Is it one of these? Follow it instead")
    expect(suggestions.get_by_role("button")).to_have_count(1)
    suggestions.get_by_role("button", name=f"Follow {open_one.ref} instead").click()
    page.wait_for_url(f"**/incidents/{open_one.ref}/")
    expect(page.get_by_text(f"You follow {open_one.ref}")).to_be_visible()
    assert Subscription.objects.filter(user=reporter, incident=open_one).exists()
    assert Incident.objects.count() == 2
