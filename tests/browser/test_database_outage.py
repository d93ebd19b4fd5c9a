"""The 503 page's form in Chromium, against gunicorn and a private PostgreSQL 15 cluster stopped
and started again (incidents/tests/test_postgres_stopped.py has the cluster and the server;
this module uses the browser suite's Chromium). Same needs and skips as that module."""

import re
import urllib.parse

import psycopg
import pytest
from playwright.sync_api import expect

from incidents.tests.test_outage import FormReader
from incidents.tests.test_postgres_stopped import serving
from tests.browser.conftest import PHONE, axe, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.postgres_only]


@pytest.fixture(scope="module")
def stack():
    with serving() as running:
        yield running


def test_the_503_pages_form_sends_the_report_again_without_javascript(stack, browser):
    """In Chromium with JavaScript off, on a phone: the report is sent while the cluster is
    stopped, comes back on the 503 page, and its "Send again" reports it once the cluster is back."""
    cluster, base = stack["cluster"], stack["base"]
    description = "Card payments fail since 03:10.\nProvider answers 502 <b>sometimes</b>."
    context = browser.new_context(base_url=base, java_script_enabled=False, viewport=PHONE)
    try:
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("input[name=username]", "rob")
        page.fill("input[name=password]", "pw-rob-1234")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.goto("/incidents/new/?type=downtime")
        page.fill("input[name=title]", "Payments down at 3 a.m.")
        page.select_option("select[name=service]", label="Checkout")
        page.check("input[name=severity][value=critical]")
        page.fill("textarea[name=description]", description)
        page.fill("textarea[name=impact]", "No customer can pay.")

        cluster.stop()
        page.get_by_role("button", name="Report incident").click()
        expect(page.locator("h1")).to_have_text("Beacon can't reach its database")
        expect(page.get_by_label("Description")).to_have_value(description)
        expect(page.get_by_label("Title")).to_have_value("Payments down at 3 a.m.")
        assert horizontal_overflow(page) <= 0  # usable at 390 px
        # axe-core needs script: the same 503 page in a context with JavaScript, reached by
        # posting the kept form again while the database is still away.
        kept = FormReader.read(page.content()).data()
        scripted = browser.new_context(base_url=base, viewport=PHONE, bypass_csp=True)
        scripted.add_cookies(context.cookies())
        again = scripted.new_page()
        body = urllib.parse.urlencode(kept, doseq=True)
        again.route(
            "**/incidents/new/",
            lambda route: route.continue_(
                method="POST",
                post_data=body,
                headers={**route.request.headers, "content-type": "application/x-www-form-urlencoded"},
            ),
        )
        assert again.goto("/incidents/new/").status == 503
        expect(again.get_by_label("Description")).to_have_value(description)
        assert axe(again) == []
        scripted.close()

        cluster.start()
        page.get_by_role("button", name="Send again").click()
        page.wait_for_url(re.compile(r".*/incidents/INC-\d+/$"))
        expect(page.locator("h1")).to_contain_text("Payments down at 3 a.m.")
        expect(page.locator("#messages")).to_contain_text("reported")
    finally:
        context.close()
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        stored = conn.execute(
            "SELECT description FROM incidents_incident WHERE title = 'Payments down at 3 a.m.'"
        ).fetchall()
    assert [row[0].replace("\r\n", "\n") for row in stored] == [description]
