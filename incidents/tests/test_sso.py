"""Single sign-on against a real OpenID Connect provider on loopback (docs/sso.md).

The provider is panva's oidc-provider, run by node from tests/oidc/provider.mjs (`npm ci` there
first; .ci/run does it). The browser's side of the dance is played by `requests` for the provider
and Django's test client for Beacon: Beacon's backend itself calls the provider's token, userinfo
and JWKS endpoints over HTTP, as in production. Nothing leaves 127.0.0.1.
"""

import re
import socket
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from incidents import roles
from incidents.models import ExternalIdentity, Team, TeamMembership
from incidents.tests.test_setup import run_python

PROVIDER_DIR = Path(__file__).resolve().parents[2] / "tests" / "oidc"
CLIENT_ID = "beacon-test"
CLIENT_SECRET = "beacon-test-secret-not-secret"
CALLBACK = "http://testserver/accounts/oidc/callback/"

oidc = pytest.mark.oidc


@pytest.fixture(scope="session")
def provider_url():
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"the test OIDC provider is not installed: run `npm ci` in {PROVIDER_DIR}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["node", "provider.mjs", str(port), CLIENT_ID, CLIENT_SECRET, CALLBACK],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("ready "), f"the test OIDC provider did not start: {line!r}"
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


class Provider:
    def __init__(self, url: str):
        self.url = url

    def account(self, sub: str, *, password="pw", groups=(), email=None, email_verified=True, **claims):
        body = {
            "password": password,
            "email": email or f"{sub}@example.org",
            "email_verified": email_verified,
            "preferred_username": sub,
            "groups": list(groups),
            **claims,
        }
        requests.put(f"{self.url}/_test/accounts/{sub}", json=body, timeout=5).raise_for_status()

    def forget(self, sub: str):
        requests.delete(f"{self.url}/_test/accounts/{sub}", timeout=5).raise_for_status()

    def tamper(self, mode: str | None):
        requests.put(f"{self.url}/_test/tamper", json={"mode": mode}, timeout=5).raise_for_status()

    def authorize(self, client: Client, login: str, password: str = "pw", query: str = "") -> str | None:
        """Start at Beacon's button, sign in at the provider; Beacon's callback URL, or None when
        the provider would not sign the person in."""
        start = client.get("/accounts/oidc/authenticate/" + query)
        assert start.status_code == 302, start
        browser = requests.Session()
        url = start["Location"]
        assert url.startswith(self.url), url
        form_posted = False
        for _ in range(10):
            answer = browser.get(url, allow_redirects=False, timeout=5)
            if answer.is_redirect:
                url = urljoin(url, answer.headers["Location"])
                if url.startswith("http://testserver/"):
                    return url
                continue
            action = re.search(r'<form method="post" action="([^"]+)"', answer.text)
            if not action or form_posted and "Unknown account or wrong password" in answer.text:
                return None
            posted = browser.post(
                urljoin(url, action.group(1)), data={"login": login, "password": password}, allow_redirects=False
            )
            form_posted = True
            if not posted.is_redirect:
                return None
            url = urljoin(url, posted.headers["Location"])
        raise AssertionError("the provider kept redirecting")

    def sign_in(self, client: Client, login: str, password: str = "pw"):
        callback = self.authorize(client, login, password)
        assert callback is not None, "the provider refused the sign-in"
        return client.get(callback, follow=True)


@pytest.fixture
def provider(provider_url, settings, db):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = provider_url
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider_url}/auth"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider_url}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider_url}/me"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider_url}/jwks"
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_ROLE_GROUPS = {
        "beacon-managers": {roles.MANAGER},
        "beacon-oncall": {roles.RESPONDER},
        "security-team": {roles.SECURITY, roles.RESPONDER},
    }
    settings.OIDC_TEAM_GROUPS = {"sre": {"platform"}}
    settings.OIDC_TEAM_GROUP_PREFIX = "team-"
    p = Provider(provider_url)
    p.tamper(None)
    yield p
    p.tamper(None)


def signed_in_as(client: Client):
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


def error_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def role_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@oidc
def test_sign_in_end_to_end_makes_the_user_with_roles_and_teams_from_the_claims(provider):
    Team.objects.create(name="Payments", slug="payments")
    Team.objects.create(name="Platform", slug="platform")
    provider.account("alice-0001", groups=["beacon-oncall", "team-payments", "sre", "team-nosuch"], name="Alice A")
    client = Client()
    response = provider.sign_in(client, "alice-0001")
    assert response.redirect_chain[-1][0] == "/"
    assert response.status_code == 200
    user = signed_in_as(client)
    assert user.username == "alice-0001"
    assert user.email == "alice-0001@example.org"
    assert not user.has_usable_password()
    assert ExternalIdentity.objects.get(user=user).subject == "alice-0001"
    assert role_names(user) == {roles.RESPONDER}
    memberships = TeamMembership.objects.filter(user=user).order_by("team__slug")
    assert [(m.team.slug, m.from_identity_provider) for m in memberships] == [("payments", True), ("platform", True)]
    # Signed in for real: a page that needs the role opens.
    assert client.get("/incidents/").status_code == 200


@oidc
def test_next_page_is_kept_through_the_provider(provider):
    provider.account("nina-0002", groups=["beacon-oncall"])
    client = Client()
    callback = provider.authorize(client, "nina-0002", query="?" + urlencode({"next": "/incidents/"}))
    assert client.get(callback)["Location"] == "/incidents/"
    # Somewhere else altogether: not followed.
    elsewhere = Client()
    callback = provider.authorize(elsewhere, "nina-0002", query="?next=https://evil.example/")
    assert elsewhere.get(callback)["Location"] == "/"


@oidc
def test_roles_and_claimed_teams_follow_the_claims_at_every_sign_in(provider):
    payments = Team.objects.create(name="Payments", slug="payments")
    ops = Team.objects.create(name="Ops", slug="ops")
    provider.account("bob-0003", groups=["beacon-managers", "team-payments", "team-ops"])
    provider.sign_in(Client(), "bob-0003")
    bob = get_user_model().objects.get(username="bob-0003")
    assert role_names(bob) == {roles.MANAGER}
    # A manager adds a role the mapping does not name, and makes Ops membership their own.
    bob.groups.add(Group.objects.get(name=roles.REPORTER))
    TeamMembership.objects.filter(user=bob, team=ops).update(from_identity_provider=False, is_manager=True)
    TeamMembership.objects.create(team=Team.objects.create(name="Hand", slug="hand"), user=bob)

    provider.account("bob-0003", groups=["beacon-oncall"])  # left the managers, and both teams
    client = Client()
    provider.sign_in(client, "bob-0003")
    assert signed_in_as(client) == bob
    assert role_names(bob) == {roles.RESPONDER, roles.REPORTER}
    assert set(TeamMembership.objects.filter(user=bob).values_list("team__slug", "from_identity_provider")) == {
        ("ops", False),
        ("hand", False),
    }
    assert not TeamMembership.objects.filter(team=payments).exists()

    provider.account("bob-0003", groups=["security-team"])
    provider.sign_in(Client(), "bob-0003")
    assert role_names(bob) == {roles.SECURITY, roles.RESPONDER, roles.REPORTER}
    assert ExternalIdentity.objects.filter(user=bob).count() == 1


@oidc
def test_a_user_the_provider_no_longer_knows_cannot_sign_in(provider):
    provider.account("carol-0004", groups=["beacon-oncall"])
    provider.sign_in(Client(), "carol-0004")
    provider.forget("carol-0004")
    client = Client()
    assert provider.authorize(client, "carol-0004") is None
    assert signed_in_as(client) is None


@oidc
def test_a_bad_state_is_refused_with_a_message(provider, caplog):
    provider.account("dan-0005")
    client = Client()
    callback = provider.authorize(client, "dan-0005")
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    forged = f"{parts.path}?{urlencode({'code': query['code'][0], 'state': 'not-the-state'})}"
    response = client.get(forged, follow=True)
    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert error_messages(response) == ["Single sign-on did not complete. Please try again."]
    assert signed_in_as(client) is None
    assert not get_user_model().objects.filter(username="dan-0005").exists()
    assert "single sign-on failed: OIDC callback state not found in session `oidc_states`!" in caplog.messages
    # Without any sign-in started in this session either.
    response = Client().get(callback, follow=True)
    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert error_messages(response) == ["Single sign-on did not complete. Please try again."]


@oidc
def test_a_replayed_code_is_refused(provider, caplog):
    provider.account("erin-0006")
    first = Client()
    callback = provider.authorize(first, "erin-0006")
    assert first.get(callback).status_code == 302
    assert signed_in_as(first).username == "erin-0006"
    # The same callback again in the same session: its state was used up.
    again = first.get(callback, follow=True)
    assert error_messages(again) == ["Single sign-on did not complete. Please try again."]

    # A fresh session with a state of its own, and the old code: the provider refuses the code.
    thief = Client()
    fresh = urlsplit(thief.get("/accounts/oidc/authenticate/")["Location"])
    state = parse_qs(fresh.query)["state"][0]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    caplog.clear()
    response = thief.get(f"/accounts/oidc/callback/?{urlencode({'code': code, 'state': state})}", follow=True)
    assert error_messages(response) == ["Single sign-on did not complete. Please try again."]
    assert any("status: 400" in m and "invalid_grant" in m for m in caplog.messages), caplog.messages
    assert signed_in_as(thief) is None


@oidc
@pytest.mark.parametrize(
    "mode, reason",
    [
        pytest.param("aud", "Audience doesn't match", id="wrong audience"),
        pytest.param("exp", "Signature has expired", id="expired token"),
        pytest.param("iss", "Invalid issuer", id="wrong issuer"),
        pytest.param("sig", "Signature verification failed", id="signed with a key the provider never published"),
    ],
)
def test_an_id_token_that_fails_its_checks_signs_nobody_in(provider, mode, reason, caplog):
    provider.account("frank-0007", groups=["beacon-managers"])
    provider.tamper(mode)
    client = Client()
    response = provider.sign_in(client, "frank-0007")
    assert f"single sign-on failed: ID token refused: {reason}" in caplog.messages
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert error_messages(response) == ["Single sign-on did not complete. Please try again."]
    assert signed_in_as(client) is None
    assert not get_user_model().objects.filter(username="frank-0007").exists()
    # The same provider, honest again: the same person gets in.
    provider.tamper(None)
    provider.sign_in(client, "frank-0007")
    assert signed_in_as(client).username == "frank-0007"


@oidc
def test_an_address_reused_for_a_new_person_does_not_open_the_old_account(provider):
    provider.account("gail-0008", email="gail@example.org", groups=["beacon-managers"])
    provider.sign_in(Client(), "gail-0008")
    old = get_user_model().objects.get(username="gail-0008")
    # Gail left; the provider gave her address to a newcomer with a subject of their own.
    provider.forget("gail-0008")
    provider.account("gail-0009", email="gail@example.org")
    client = Client()
    response = provider.sign_in(client, "gail-0009")
    assert signed_in_as(client) is None
    assert error_messages(response) == [
        "A Beacon account with the address gail@example.org exists but cannot be linked to this sign-in."
        " Ask a Beacon manager."
    ]
    assert list(ExternalIdentity.objects.values_list("subject", flat=True)) == ["gail-0008"]
    assert role_names(old) == {roles.MANAGER}


@oidc
def test_an_existing_account_is_linked_once_by_a_verified_address(provider):
    local = get_user_model().objects.create_user("hank", email="Hank@Example.org", password="pw")
    provider.account("hank-0010", email="hank@example.org", email_verified=False)
    client = Client()
    provider.sign_in(client, "hank-0010")
    assert signed_in_as(client) is None
    assert not ExternalIdentity.objects.exists()

    provider.account("hank-0010", email="hank@example.org", email_verified=True, groups=["beacon-oncall"])
    provider.sign_in(client, "hank-0010")
    assert signed_in_as(client) == local
    assert ExternalIdentity.objects.get(user=local).subject == "hank-0010"
    assert role_names(local) == {roles.RESPONDER}


@oidc
def test_a_superuser_is_never_linked_by_address(provider):
    get_user_model().objects.create_superuser("root", email="root@example.org", password="pw")
    provider.account("root-0011", email="root@example.org")
    client = Client()
    provider.sign_in(client, "root-0011")
    assert signed_in_as(client) is None


@oidc
def test_a_deactivated_user_cannot_sign_in_and_their_session_ends(provider):
    provider.account("ivy-0012", groups=["beacon-oncall"])
    client = Client()
    provider.sign_in(client, "ivy-0012")
    ivy = signed_in_as(client)
    assert client.get("/incidents/").status_code == 200
    get_user_model().objects.filter(pk=ivy.pk).update(is_active=False)
    assert client.get("/incidents/")["Location"].startswith("/accounts/login/")
    response = provider.sign_in(Client(), "ivy-0012")
    assert error_messages(response) == ["Your Beacon account is deactivated. Ask a Beacon manager."]


@oidc
def test_without_automatic_accounts_a_stranger_is_refused(provider, settings):
    settings.OIDC_CREATE_USER = False
    provider.account("jack-0013")
    response = provider.sign_in(Client(), "jack-0013")
    assert error_messages(response) == ["You have no Beacon account yet. Ask a Beacon manager."]
    assert not get_user_model().objects.filter(username="jack-0013").exists()


@oidc
def test_the_provider_saying_no_is_a_message(provider):
    client = Client()
    state = parse_qs(urlsplit(client.get("/accounts/oidc/authenticate/")["Location"]).query)["state"][0]
    response = client.get(f"/accounts/oidc/callback/?error=access_denied&state={state}", follow=True)
    assert error_messages(response) == ["Test IdP did not sign you in (access_denied)."]


# --- without the provider: the switches ---------------------------------------------------


@pytest.fixture
def passwords_off(settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    settings.LOCAL_PASSWORDS = False


def test_with_passwords_off_the_login_page_offers_the_provider_and_a_break_glass_form(client, passwords_off):
    page = client.get("/accounts/login/?next=/incidents/").content.decode()
    assert 'href="/accounts/oidc/authenticate/?next=/incidents/">Sign in with Example SSO</a>' in page
    assert "Break-glass sign-in (administrators only)</summary>" in page
    assert "Forgot your password?" not in page


def test_with_passwords_on_and_sso_on_both_are_offered(client, settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Example SSO</a>" in page
    assert "Forgot your password?" in page
    assert "Break-glass" not in page


def test_without_sso_the_login_page_is_as_before(client, db):
    page = client.get("/accounts/login/").content.decode()
    assert "oidc" not in page
    assert "Forgot your password?" in page


def test_with_passwords_off_only_a_superuser_signs_in_with_a_password(client, passwords_off, manager):
    response = client.post("/accounts/login/", {"username": "maya", "password": "pw"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session
    get_user_model().objects.create_superuser("root", email="root@example.org", password="pw")
    response = client.post("/accounts/login/", {"username": "root", "password": "pw"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]
    # The break-glass superuser keeps their password page.
    assert client.get("/accounts/password/").status_code == 200


def test_with_passwords_off_reset_and_change_are_gone(client, passwords_off, manager):
    for url in ("/accounts/password/reset/", "/accounts/password/reset/sent/", "/accounts/password/reset/done/"):
        assert client.get(url).status_code == 404, url
    assert client.post("/accounts/password/reset/", {"email": manager.email}).status_code == 404
    client.force_login(manager)
    assert client.get("/accounts/password/").status_code == 404
    assert "Change your password" not in client.get("/accounts/profile/").content.decode()


def test_sso_views_and_backend_are_off_without_settings(client, db):
    from incidents.sso import OIDCBackend

    assert client.get("/accounts/oidc/authenticate/").status_code == 404
    assert client.get("/accounts/oidc/callback/?code=x&state=y").status_code == 404
    assert OIDCBackend().authenticate(None, nonce="n") is None


def test_group_mappings_are_read_and_checked():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup();"
        "from django.conf import settings; print(sorted((k, sorted(v)) for k, v in settings.OIDC_ROLE_GROUPS.items()))"
    )
    ok = run_python(code, DEBUG="1", OIDC_ROLE_GROUPS="a=Manager, b = Responder,b=Security, /x=y/z=Viewer")
    assert ok.stdout.strip() == "[('/x=y/z', ['Viewer']), ('a', ['Manager']), ('b', ['Responder', 'Security'])]"
    bad = run_python(code, DEBUG="1", OIDC_ROLE_GROUPS="a=Boss")
    assert "OIDC_ROLE_GROUPS: 'Boss' is not one of Manager, Reporter, Responder, Security, Viewer" in bad.stderr
    bad = run_python(code, DEBUG="1", OIDC_TEAM_GROUPS="payments")
    assert "OIDC_TEAM_GROUPS: 'payments' is not group=value" in bad.stderr


def test_half_configured_sso_and_passwords_off_without_sso_refuse_to_start():
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='incidentsite.settings'; django.setup()"
    result = run_python(code, DEBUG="1", OIDC_RP_CLIENT_ID="beacon", OIDC_OP_ISSUER="https://idp.example")
    assert result.returncode != 0
    assert (
        "OIDC_RP_CLIENT_ID is set, so single sign-on needs OIDC_RP_CLIENT_SECRET, OIDC_OP_AUTHORIZATION_ENDPOINT,"
        " OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT too"
    ) in result.stderr
    result = run_python(code, DEBUG="1", LOCAL_PASSWORDS="0")
    assert result.returncode != 0
    assert "LOCAL_PASSWORDS=0 needs single sign-on" in result.stderr


@oidc
def test_failed_single_sign_ons_do_not_lock_out_the_address(provider, settings):
    settings.AXES_FAILURE_LIMIT = 2
    provider.account("kim-0014")
    provider.tamper("aud")
    for _ in range(3):
        assert provider.sign_in(Client(), "kim-0014").redirect_chain[-1][0] == "/accounts/login/"
    provider.tamper(None)
    client = Client()
    provider.sign_in(client, "kim-0014")
    assert signed_in_as(client).username == "kim-0014"
