"""The sign-in page with single sign-on on (docs/sso.md), as tests/browser/test_pages.py checks
every page: 390 px with and without JavaScript, axe-core, and the dark desktop. The page's URL is
the one tests/browser/pages.py lists already; what differs is the settings, so it is checked here,
in both shapes: passwords beside the provider's button, and passwords off but for break-glass."""

import pytest

from tests.browser.conftest import PHONE
from tests.browser.test_pages import check_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("local_passwords", [True, False], ids=["passwords too", "break-glass only"])
def test_login_page_with_single_sign_on(local_passwords, settings, open_as):
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    settings.LOCAL_PASSWORDS = local_passwords
    assert check_page(open_as, None, "/accounts/login/", dark_desktop=True) == {}
    page = open_as(None, javascript=False, viewport=PHONE)
    page.goto("/accounts/login/")
    assert page.get_by_role("link", name="Sign in with Example SSO").is_visible()
    if not local_passwords:
        # Without JavaScript the break-glass form opens from its <details>.
        assert not page.get_by_label("Password").is_visible()
        page.get_by_text("Break-glass sign-in (administrators only)").click()
        assert page.get_by_label("Password").is_visible()
