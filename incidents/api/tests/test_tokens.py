"""Personal API tokens: made by their owner (shown once), revoked by the owner or a manager."""

import pytest
from django.test import Client

from incidents.api.tests.support import call, personal_token
from incidents.api.tokens import MAX_ACTIVE_TOKENS
from incidents.models import ApiToken, hash_token

URL = "/accounts/tokens/"


def new_token_on(page) -> str | None:
    found = page.context["new_token"]
    return found["token"] if found else None


def test_it_makes_a_token_and_shows_it_once(clients, reporter):
    client = clients["reporter"]
    response = client.post(URL, {"name": "  deploy script "})
    assert response.status_code == 302
    assert response["Location"] == URL
    page = client.get(URL)
    secret = new_token_on(page)
    assert secret.startswith("bcu_")
    assert secret in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.is_active) == (reporter, "deploy script", True)
    # Only the hash is kept; the session forgets the token once it was shown.
    assert token.token_hash == hash_token(secret)
    assert secret not in str(client.session.items())
    again = client.get(URL)
    assert new_token_on(again) is None
    assert secret not in again.content.decode()
    assert token.token_hint in again.content.decode()
    # The token works, with the reporter's role.
    assert call("get", "/api/incidents", secret).status_code == 200


def test_a_token_needs_a_name(clients):
    response = clients["viewer"].post(URL, {"name": "   "})
    assert response.status_code == 422
    assert "name" in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_an_empty_post_is_refused_too(clients):
    response = clients["viewer"].post(URL, {})
    assert response.status_code == 422
    assert "name" in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_there_is_a_limit_on_active_tokens(clients, viewer):
    for n in range(MAX_ACTIVE_TOKENS):
        personal_token(viewer, name=f"t{n}")
    response = clients["viewer"].post(URL, {"name": "one too many"})
    assert response.status_code == 422
    assert ApiToken.objects.count() == MAX_ACTIVE_TOKENS


def test_the_page_lists_only_my_tokens(clients, viewer, responder):
    personal_token(viewer, name="mine")
    personal_token(responder, name="not mine")
    page = clients["viewer"].get(URL).content.decode()
    assert "mine" in page
    assert "not mine" not in page


def test_it_revokes_my_token(clients, viewer):
    secret = personal_token(viewer)
    token = ApiToken.objects.get()
    response = clients["viewer"].post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.is_active is False
    assert call("get", "/api/incidents", secret).status_code == 401
    assert "revoked" in clients["viewer"].get(URL).content.decode()


def test_nobody_revokes_someone_elses_token(clients, responder):
    secret = personal_token(responder)
    token = ApiToken.objects.get()
    response = clients["viewer"].post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.is_active is True
    assert call("get", "/api/incidents", secret).status_code == 200


def test_revoking_needs_a_post(clients, viewer):
    personal_token(viewer)
    token = ApiToken.objects.get()
    assert clients["viewer"].get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405


def test_making_a_token_needs_the_csrf_token(viewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    assert client.post(URL, {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_settings_page_links_to_the_tokens(clients):
    assert URL in clients["viewer"].get("/accounts/profile/").content.decode()
    assert URL not in clients["nobody"].get("/accounts/profile/").content.decode()


# --- the admin -------------------------------------------------------------------------


def test_a_manager_revokes_tokens_in_the_admin(clients, viewer, responder):
    kept, revoked = personal_token(viewer), personal_token(responder)
    target = ApiToken.objects.get(user=responder)
    response = clients["manager"].post(
        "/admin/incidents/apitoken/", {"action": "revoke", "_selected_action": [target.pk]}
    )
    assert response.status_code == 302
    assert call("get", "/api/incidents", revoked).status_code == 401
    assert call("get", "/api/incidents", kept).status_code == 200


def test_the_admin_never_shows_or_makes_a_token(clients, viewer):
    secret = personal_token(viewer)
    token = ApiToken.objects.get()
    page = clients["manager"].get(f"/admin/incidents/apitoken/{token.pk}/change/")
    assert page.status_code == 200
    assert secret not in page.content.decode()
    assert token.token_hash not in page.content.decode()
    assert clients["manager"].get("/admin/incidents/apitoken/add/").status_code == 403


@pytest.mark.parametrize("role", ["reporter", "responder", "viewer"])
def test_other_roles_have_no_token_admin(clients, role):
    assert clients[role].get("/admin/incidents/apitoken/").status_code == 403
