"""A type's custom fields on the report form, in a real browser: without JavaScript the type is
chosen first and the form comes back with its fields; with JavaScript (htmx) choosing another
type on the form swaps its fields in."""

import pytest
from playwright.sync_api import expect

from incidents.models import CustomField, Incident, IncidentType
from incidents.tests.factories import ServiceFactory
from tests.browser.conftest import PHONE, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_fields(db):
    ServiceFactory(name="Checkout")
    performance = IncidentType.objects.get(slug="performance")
    CustomField.objects.create(
        type=performance, label="Users affected?", kind="choice", choices="some\nmost\nall", required=True, position=1
    )
    CustomField.objects.create(type=performance, label="p99 latency (ms)", kind="number", position=2)


def fill_report(page, title: str) -> None:
    page.fill("input[name=title]", title)
    page.select_option("select[name=service]", label="Checkout")
    page.fill("textarea[name=description]", "Search takes 9 s.")
    page.fill("textarea[name=impact]", "Everyone searching.")


def test_without_javascript_the_type_comes_first_then_its_fields(open_as, reporter, slow_fields):
    page = open_as(reporter, javascript=False, viewport=PHONE)
    page.goto("/incidents/new/")
    page.check("input[name=type][value=performance]")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#type-fields legend").first).to_have_text("Performance degradation: details")
    fill_report(page, "Search is slow")
    page.get_by_label("p99 latency (ms)").fill("9000")
    page.get_by_role("button", name="Report incident").click()
    # Refused beside the required field; what was typed stays.
    expect(page.locator("#type-fields")).to_contain_text("Choose one.")
    expect(page.locator("input[name=title]")).to_have_value("Search is slow")
    assert not Incident.objects.exists()
    assert not horizontal_overflow(page)
    page.get_by_label("most").check()
    page.get_by_role("button", name="Report incident").click()
    page.wait_for_url("**/incidents/INC-*/")
    expect(page.locator("#custom-fields")).to_contain_text("most")
    assert Incident.objects.get().custom_fields == {"users_affected": "most", "p99_latency_ms": 9000}


def test_with_javascript_choosing_another_type_swaps_its_fields_in(open_as, reporter, slow_fields):
    page = open_as(reporter, javascript=True, viewport=PHONE)
    page.goto("/incidents/new/?type=downtime")
    expect(page.locator("input[name='fields-users_affected']")).to_have_count(0)
    page.check("input[name=type][value=performance]")
    expect(page.locator("input[name='fields-users_affected']")).to_have_count(3)
    expect(page.locator("input[name=fields_for]")).to_have_value("performance")
    fill_report(page, "Search is slow")
    page.check("input[name=severity][value=medium]")
    page.get_by_label("all").check()
    page.get_by_role("button", name="Report incident").click()
    page.wait_for_url("**/incidents/INC-*/")
    incident = Incident.objects.get()
    assert (incident.type.slug, incident.custom_fields) == ("performance", {"users_affected": "all"})
