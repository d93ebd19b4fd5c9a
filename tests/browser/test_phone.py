"""At 390 x 844: the dashboard as cards whose buttons are on screen and big enough to tap, the
incident page's actions on top and its timeline newest first, the menu with JavaScript off,
focus after htmx swaps, the colour-scheme toggle, the icons."""

import pytest
from playwright.sync_api import expect

from incidents import workflow
from incidents.models import Profile
from incidents.tests.factories import ServiceFactory, make_incident
from tests.browser.conftest import PHONE, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_TITLE = "Checkout returns 500 for card payments after the payment provider rotated certificates"


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, locator
    return found


def test_dashboard_cards_on_a_phone(open_as, reporter, responder, other_responder):
    checkout = ServiceFactory(name="Checkout")
    waiting = make_incident(by=reporter, title=LONG_TITLE, severity="critical", service=checkout)
    for n in range(3):
        acknowledged = make_incident(by=reporter, title=f"Search is slow ({n})", severity="high", service=checkout)
        workflow.acknowledge(acknowledged, by=other_responder)

    page = open_as(responder, javascript=True, viewport=PHONE)
    page.goto("/")
    assert horizontal_overflow(page) == 0
    card = page.locator(f"tr[data-ref='{waiting.ref}']")
    # Reference, title, severity and status in words, and how long it has waited.
    expect(card).to_contain_text(waiting.ref)
    expect(card).to_contain_text("Critical")
    expect(card).to_contain_text("Reported")
    expect(card.locator(".waited")).to_contain_text("waiting")
    # The title wraps between words, never inside one ("Checkou t").
    title = card.locator(".title")
    lines = title.evaluate(
        """el => {
        const range = document.createRange(), words = [];
        const text = el.firstChild;
        let start = 0;
        for (const word of text.textContent.split(' ')) {
            range.setStart(text, start); range.setEnd(text, start + word.length);
            words.push(range.getClientRects().length);
            start += word.length + 1;
        }
        return words;
    }"""
    )
    assert lines and max(lines) == 1, f"a word of the title is broken over lines: {lines}"
    assert box(title)["height"] > 30  # it did wrap, at 390 px

    # The first Acknowledge and Take buttons lie inside the viewport, each at least 44 x 44 px.
    acknowledge = page.get_by_role("button", name="Acknowledge").first
    take = card.get_by_role("button", name="Take it")
    for button in (acknowledge, take):
        expect(button).to_be_in_viewport(ratio=1)
        size = box(button)
        assert size["width"] >= 44 and size["height"] >= 44, size
        assert size["x"] >= 0 and size["x"] + size["width"] <= PHONE["width"]
    # Every button and link-button on the page is a big enough target.
    small = page.locator("main .btn:visible").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect()).filter(r => r.width < 44 || r.height < 44).length"
    )
    assert small == 0

    acknowledge.click()
    expect(page.locator("#messages")).to_contain_text(f"{waiting.ref} acknowledged")
    expect(page.locator(f"tr[data-ref='{waiting.ref}']")).not_to_have_class("incident-row unacknowledged")
    waiting.refresh_from_db()
    assert waiting.status == "acknowledged" and waiting.acknowledged_at is not None


def test_menu_without_javascript(open_as, responder):
    page = open_as(responder, javascript=False, viewport=PHONE)
    page.goto("/")
    menu = page.locator("details.nav-menu")
    on_call = menu.get_by_role("link", name="On call")
    expect(on_call).to_be_hidden()
    menu.locator("summary").click()
    for name in ("Dashboard", "Incidents", "On call", "Report"):
        expect(menu.get_by_role("link", name=name, exact=True)).to_be_in_viewport()
    expect(menu.get_by_role("button", name="Sign out")).to_be_in_viewport()
    assert horizontal_overflow(page) == 0
    on_call.click()
    page.wait_for_url("**/oncall/")
    page.locator("details.nav-menu summary").click()
    page.locator("details.nav-menu").get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in to Beacon")).to_be_visible()


def test_incident_page_on_a_phone(open_as, reporter, responder, other_responder):
    incident = make_incident(by=reporter, title=LONG_TITLE, severity="critical")
    workflow.acknowledge(incident, by=other_responder)
    for n in range(14):
        workflow.add_note(incident, by=responder, text=f"Finding number {n}")

    page = open_as(responder, javascript=True, viewport=PHONE)
    page.goto(f"/incidents/{incident.ref}/")
    assert horizontal_overflow(page) == 0
    # The actions come first, on screen.
    for summary in ("Mitigate…", "Resolve…"):
        expect(page.locator("header summary", has_text=summary)).to_be_in_viewport()
    expect(page.get_by_role("button", name="Take it")).to_be_in_viewport()
    # The jump link leads to the note form, with the newest entries under it.
    page.get_by_role("link", name="Newest entries / add a note").click()
    expect(page.get_by_label("Add a note")).to_be_in_viewport()
    entries = page.locator("#timeline > ol > .timeline-entry")
    expect(entries).to_have_count(10)
    expect(entries.first).to_contain_text("Finding number 13")
    older = page.locator("#older-entries")
    expect(older.locator(".timeline-entry").first).to_be_hidden()
    older.locator("summary").click()
    expect(older.locator(".timeline-entry")).to_have_count(6)  # 4 notes, acknowledged, reported
    expect(older.locator(".timeline-entry").last).to_contain_text("Reported")

    # A note through htmx: the form comes back empty with the cursor in it; an empty one says why.
    page.get_by_label("Add a note").fill("Rolled back.")
    page.get_by_role("button", name="Add note").click()
    expect(entries.first).to_contain_text("Rolled back.")
    expect(page.get_by_label("Add a note")).to_be_focused()
    expect(page.locator("#older-entries")).to_have_attribute("open", "")  # kept open across the swap
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-errors")).to_be_focused()
    expect(page.locator("#note-errors")).to_contain_text("This field is required")

    # A status update through htmx: focus returns to its form.
    page.get_by_label("Status update").fill("We are rolling back.")
    page.get_by_role("button", name="Post update").click()
    expect(page.locator("#updates-panel")).to_contain_text("We are rolling back.")
    expect(page.get_by_label("Status update")).to_be_focused()


def test_colour_scheme_follows_the_device_and_the_users_choice(open_as, responder):
    page = open_as(responder, javascript=True, viewport=PHONE, color_scheme="dark")
    page.goto("/")
    html = page.locator("html")
    expect(html).to_have_attribute("data-bs-theme", "dark")  # Auto, on a dark device
    page.emulate_media(color_scheme="light")
    expect(html).to_have_attribute("data-bs-theme", "light")  # and it follows a change at once

    # The toggle in the menu keeps the choice on the user's profile: another device gets it too.
    page.locator("details.nav-menu summary").click()
    page.locator("details.nav-menu").get_by_role("button", name="Dark").click()
    page.wait_for_url("**/")
    expect(html).to_have_attribute("data-bs-theme", "dark")
    assert Profile.objects.get(user=responder).theme == "dark"
    elsewhere = open_as(responder, javascript=False, viewport=PHONE, color_scheme="light")
    elsewhere.goto("/incidents/")
    expect(elsewhere.locator("html")).to_have_attribute("data-bs-theme", "dark")
    pressed = elsewhere.locator("details.nav-menu button[aria-pressed=true]")
    expect(pressed).to_have_text("Dark")


def test_installable_with_icons(open_as, responder, live_server):
    page = open_as(responder, javascript=True, viewport=PHONE)
    page.goto("/")
    favicon = page.request.get("/favicon.ico")
    assert favicon.status == 200 and favicon.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    manifest_url = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = page.request.get(manifest_url).json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        response = page.request.get(live_server.url + manifest_url.rsplit("/", 1)[0] + "/" + icon["src"])
        assert response.status == 200, icon
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes
    touch = page.locator("link[rel=apple-touch-icon]").get_attribute("href")
    assert page.request.get(touch).status == 200
