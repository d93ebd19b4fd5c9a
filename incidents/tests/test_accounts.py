import re

from django.core import mail


def test_sign_in_and_out(client, responder):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and 'name="username"' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "rob", "password": "pw"})
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_wrong_password_is_refused_with_a_message(client, responder):
    response = client.post("/accounts/login/", {"username": "rob", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_change_password(client, responder):
    client.force_login(responder)
    response = client.post(
        "/accounts/password/",
        {"old_password": "pw", "new_password1": "a-Much-better-pass-77", "new_password2": "a-Much-better-pass-77"},
    )
    assert response["Location"] == "/accounts/password/done/"
    responder.refresh_from_db()
    assert responder.check_password("a-Much-better-pass-77")


def test_reset_a_forgotten_password_by_email(client, responder):
    response = client.post("/accounts/password/reset/", {"email": "rob@example.com"})
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Reset your Beacon password"
    link = re.search(r"http://127.0.0.1:8000(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "Another-good-one-42", "new_password2": "Another-good-one-42"}
    )
    assert done["Location"] == "/accounts/password/reset/done/"
    responder.refresh_from_db()
    assert responder.check_password("Another-good-one-42")


def test_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client, db):
    response = client.post("/accounts/password/reset/", {"email": "ghost@example.com"})
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


def test_profile_sets_time_zone_and_times_follow_it(clients, reporter, responder):
    from incidents.tests.factories import make_incident

    bad = clients["responder"].post("/accounts/profile/", {"time_zone": "Mars/Olympus"})
    assert bad.status_code == 422
    ok = clients["responder"].post("/accounts/profile/", {"time_zone": "Asia/Tokyo", "email_notifications": "on"})
    assert ok.status_code == 302
    incident = make_incident(by=reporter)
    html = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "JST" in html


def test_the_reset_link_comes_from_site_url_never_from_the_host_header(client, responder, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://beacon.example.org"
    client.post("/accounts/password/reset/", {"email": "rob@example.com"}, HTTP_HOST="beacon.example.com:8443")
    body = mail.outbox[0].body
    assert "beacon.example.com" not in body
    assert re.search(r"https://beacon.example.org/accounts/password/reset/\S+/\S+/", body)


def test_reset_mails_are_limited_per_address(client, responder, settings):
    settings.PASSWORD_RESET_PER_ADDRESS = 3
    for n in range(10):
        response = client.post("/accounts/password/reset/", {"email": "ROB@example.com"}, REMOTE_ADDR=f"10.0.0.{n}")
        # The answer never changes: it must not tell whether an account exists or was throttled.
        assert response["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 3


def test_reset_requests_are_limited_per_client_address(client, responder, manager, settings):
    settings.PASSWORD_RESET_PER_IP = 4
    answers = [
        client.post("/accounts/password/reset/", {"email": f"{who}@example.com"}, REMOTE_ADDR="203.0.113.7")
        for who in ["rob", "maya", "rob", "maya", "rob", "maya"]
    ]
    assert [a.status_code for a in answers] == [302, 302, 302, 302, 429, 429]
    assert "Too many reset requests" in answers[-1].content.decode()
    assert len(mail.outbox) == 4
    # Another address is not affected.
    other = client.post("/accounts/password/reset/", {"email": "maya@example.com"}, REMOTE_ADDR="198.51.100.2")
    assert other.status_code == 302 and len(mail.outbox) == 5


def test_the_reset_limits_reset_after_the_window(client, responder, settings, time_machine):
    settings.PASSWORD_RESET_PER_ADDRESS = 1
    time_machine.move_to("2026-12-01 10:00:00Z")
    client.post("/accounts/password/reset/", {"email": "rob@example.com"})
    client.post("/accounts/password/reset/", {"email": "rob@example.com"})
    assert len(mail.outbox) == 1
    time_machine.move_to("2026-12-01 11:01:00Z")
    client.post("/accounts/password/reset/", {"email": "rob@example.com"})
    assert len(mail.outbox) == 2
