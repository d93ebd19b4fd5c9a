"""A reporter files a report; the responder's open dashboard shows it without a reload; they
acknowledge it, add a note, mitigate and resolve with the confirmation; the incident page
shows the whole timeline in order."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from incidents import workflow
from incidents.models import Incident
from incidents.tests.factories import ServiceFactory, make_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The README's pictures are refreshed with `UPDATE_SCREENSHOTS=1 make test`; otherwise they go to a temp dir.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    return DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


@pytest.fixture(autouse=True)
def _fast_dashboard(settings):
    settings.DASHBOARD_REFRESH_SECONDS = 2  # the same htmx polling, just sooner


def test_report_to_resolution(screenshots, sign_in, reporter, responder, other_responder, live_server):
    ServiceFactory(name="Checkout")
    search = ServiceFactory(name="Search")
    # Something already going on, as on a real night.
    slow = make_incident(by=reporter, title="Search suggestions take 4 seconds", severity="medium", service=search)
    workflow.acknowledge(slow, by=other_responder)
    stale = make_incident(by=reporter, title="Nightly export finished late", severity="low", service=search)
    workflow.take(stale, by=responder)
    workflow.acknowledge(stale, by=responder)

    dashboard = sign_in(responder)
    expect(dashboard.locator("#board")).to_contain_text("Search suggestions take 4 seconds")
    expect(dashboard).to_have_title("Dashboard — Beacon")
    dashboard.evaluate("window.__notReloaded = true")

    report = sign_in(reporter)
    report.goto("/incidents/new/")
    # The type first (Downtime is preselected), then the report.
    report.check("input[name=type][value=downtime]")
    report.get_by_role("button", name="Next").click()
    report.wait_for_url("**/incidents/new/?type=downtime")
    report.fill("input[name=title]", "Checkout returns 500 for card payments")
    report.select_option("select[name=service]", label="Checkout")
    report.check("input[name=severity][value=critical]")
    report.fill("textarea[name=description]", "Every card payment fails since 03:10.")
    report.fill("textarea[name=impact]", "No customer can pay.")
    report.fill("textarea[name=logs]", "ERROR upstream timed out (10003ms)\n  at pay()")
    report.get_by_role("button", name="Report incident").click()
    report.wait_for_url("**/incidents/INC-*/")
    incident = Incident.objects.get(title="Checkout returns 500 for card payments")
    expect(report).to_have_title(f"{incident.ref} · Checkout returns 500 for card payments — Beacon")
    expect(report.locator("#messages .alert-success")).to_contain_text(f"{incident.ref} reported")

    # The responder's dashboard picks it up by itself, and the tab title counts it.
    row = dashboard.locator(f"tr[data-ref='{incident.ref}']")
    expect(row).to_be_visible(timeout=15_000)
    expect(row).to_have_class("incident-row unacknowledged")
    expect(dashboard).to_have_title("(1) Dashboard — Beacon")
    assert dashboard.evaluate("window.__notReloaded") is True
    dashboard.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    row.get_by_role("button", name="Acknowledge").click()
    expect(dashboard.locator("#messages .alert-success")).to_contain_text(f"{incident.ref} acknowledged")
    expect(dashboard.locator(f"tr[data-ref='{incident.ref}']")).to_have_class("incident-row")

    page = dashboard
    page.goto(f"/incidents/{incident.ref}/")
    page.evaluate("window.__notReloaded = true")
    page.fill("#note-form textarea[name=text]", "Payment provider answers **slowly**; rolling back deploy 512.")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#timeline .kind-note strong")).to_have_text("slowly")
    assert page.evaluate("window.__notReloaded") is True  # htmx, no page load
    expect(page.locator("#note-form textarea[name=text]")).to_have_value("")

    page.locator("summary", has_text="Mitigate…").click()
    page.fill("#mitigate-panel input[name=text]", "Rolled back to 511")
    page.get_by_role("button", name="Mark mitigated").click()
    expect(page.locator("#messages .alert-success")).to_contain_text("marked mitigated")

    page.locator("summary", has_text="Resolve…").click()
    page.fill("#resolve-panel textarea[name=summary]", "Deploy 512 reverted; payments normal for 30 minutes.")
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator("#resolve-panel")).to_contain_text("Confirm that users are no longer affected")
    page.check("#resolve-panel input[name=confirmed]")
    page.get_by_role("button", name="Resolve incident").click()
    expect(page.locator("#messages .alert-success")).to_contain_text(f"{incident.ref} resolved")

    # Newest first, so a phone shows what just happened without scrolling.
    kinds = page.locator("#timeline .timeline-entry").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds == ["status_change", "status_change", "note", "status_change", "reported"]
    texts = page.locator("#timeline .timeline-entry").all_inner_texts()
    assert "Resolved" in texts[0] and "Mitigated" in texts[1] and "Acknowledged" in texts[3]
    page.screenshot(path=str(screenshots / "incident.png"), full_page=True)

    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    assert incident.resolution_confirmed_by == responder


def test_notes_work_without_javascript(sign_in, reporter, responder):
    incident = make_incident(by=reporter)
    page = sign_in(responder, javascript=False)
    page.goto(f"/incidents/{incident.ref}/")
    page.fill("#note-form textarea[name=text]", "Plain form post")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#messages .alert-success")).to_contain_text("Note added")
    expect(page.locator("#timeline .kind-note")).to_contain_text("Plain form post")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("link", name="Refresh")).to_be_visible()


def test_phone_width_report_form_is_usable(sign_in, reporter):
    ServiceFactory(name="Checkout")
    page = sign_in(reporter, viewport={"width": 390, "height": 844})
    page.goto("/incidents/new/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the type step too
    page.get_by_role("button", name="Next").click()
    page.wait_for_url("**/incidents/new/?type=downtime")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing forces sideways scrolling
    expect(page.get_by_role("button", name="Report incident")).to_be_visible()
