"""Playwright (Python) driving Debian's Chromium against Django's live server.

Playwright's own browser download does not work on a closed network; Debian's
`chromium` package does (`.ci/run` installs it). Outside CI the suite is skipped when
Chromium is missing; in CI (CI=true) a missing browser is a failure.
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]

# Playwright's sync API runs an event loop in this thread; the ORM calls our tests make
# between page actions are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def sign_in(browser, live_server):
    """sign_in(user, javascript=True) -> a page signed in as `user` (password "pw")."""
    contexts = []

    def _sign_in(user, *, javascript: bool = True, viewport=None):
        context = browser.new_context(
            base_url=live_server.url,
            java_script_enabled=javascript,
            viewport=viewport or {"width": 1280, "height": 900},
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", "pw")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield _sign_in
    for context in contexts:
        context.close()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def open_as(browser, live_server):
    """open_as(user_or_None, javascript=True, viewport=PHONE, color_scheme="light") -> a page.

    Signs in by handing the browser a session cookie made by Django's test client (the sign-in
    form itself is tested by `sign_in`), so a test that walks many pages stays quick. The
    context bypasses CSP only so that `axe` can inject its script."""
    from django.conf import settings
    from django.test import Client

    contexts = []

    def _open(user, *, javascript: bool = True, viewport=None, color_scheme: str = "light"):
        context = browser.new_context(
            base_url=live_server.url,
            java_script_enabled=javascript,
            viewport=viewport or PHONE,
            color_scheme=color_scheme,
            bypass_csp=True,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


AXE_VERSION = "4.14.1"
AXE_SCRIPT = os.path.join(os.path.dirname(__file__), "vendor", "axe-core", "axe.min.js")
# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe's tags for them).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe(page) -> list[dict]:
    """Run axe-core (vendored, tests/browser/vendor/axe-core/) on the page as it stands; returns
    the serious and critical violations as {rule, impact, help, targets}."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=AXE_SCRIPT)
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [" ".join(map(str, n["target"])) for n in v["nodes"]][:5],
        }
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def duplicate_ids(page) -> list[str]:
    return page.evaluate(
        """() => {
        const seen = new Map();
        for (const el of document.querySelectorAll('[id]')) seen.set(el.id, (seen.get(el.id) || 0) + 1);
        return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    }"""
    )
