"""Every page, for every role that sees it (tests/browser/pages.py), as a phone shows it:

- at 390 x 844 without JavaScript: it answers 200 (or what STATUS says), nothing scrolls sideways, no id is used twice;
- at 390 x 844 with JavaScript: axe-core finds no serious or critical violation of the WCAG 2.2
  A/AA rules (light colour scheme), and nothing scrolls sideways either;
- once per page, at 1280 x 900 in the dark colour scheme: axe-core again (the table layouts and
  the dark palette).

One test per page; it walks the roles that see the page, so the world is built once per page,
and reports every problem of every role at once.
"""

import pytest

from tests.browser.conftest import DESKTOP, PHONE, axe, duplicate_ids, horizontal_overflow
from tests.browser.pages import PAGES, STATUS, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(users, settings):
    # Tasks are queued and not run: the world's emails and escalations are not what these tests read.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    return build_world(users)


def check_page(open_as, user, url: str, *, dark_desktop: bool, expected: int = 200) -> dict:
    problems: dict = {}
    page = open_as(user, javascript=False, viewport=PHONE)
    response = page.goto(url)
    status = response.status if response else None
    if status != expected or (user is not None and page.url.endswith("/accounts/login/")):
        return {"status": status, "url": page.url}
    if overflow := horizontal_overflow(page):
        problems["no JavaScript, 390 px: scrolls sideways by (px)"] = overflow
    if duplicates := duplicate_ids(page):
        problems["ids used twice"] = duplicates

    page = open_as(user, javascript=True, viewport=PHONE)
    page.goto(url)
    if overflow := horizontal_overflow(page):
        problems["JavaScript, 390 px: scrolls sideways by (px)"] = overflow
    if violations := axe(page):
        problems["axe, 390 px, light"] = violations

    if dark_desktop:
        page = open_as(user, javascript=True, viewport=DESKTOP, color_scheme="dark")
        page.goto(url)
        html = page.locator("html")
        # (The public status page has no scripts and no theme: it is one cached page for everybody.)
        if html.get_attribute("data-theme-choice") and html.get_attribute("data-bs-theme") != "dark":
            problems["dark scheme"] = "the page did not follow prefers-color-scheme: dark"
        if violations := axe(page):
            problems["axe, 1280 px, dark"] = violations
    return problems


@pytest.mark.parametrize("template, roles", PAGES, ids=[url for url, _ in PAGES])
def test_page_for_every_role_that_sees_it(template, roles, world, users, open_as):
    url = template.format(**world)
    problems = {}
    for n, role in enumerate(roles):
        user = None if role == "anonymous" else users[role]
        if found := check_page(open_as, user, url, dark_desktop=n == 0, expected=STATUS.get(template, 200)):
            problems[role] = found
    assert not problems, f"{url}: {problems}"
