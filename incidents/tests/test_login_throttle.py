"""Sign-in throttling (django-axes): real password hashing, locked by username and address together."""

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

CALLS = {"n": 0}


class CountingPBKDF2(PBKDF2PasswordHasher):
    """Django's real default hasher, counting how often it really hashes."""

    algorithm = "pbkdf2_sha256"

    def encode(self, password, salt, iterations=None):
        CALLS["n"] += 1
        return super().encode(password, salt, iterations)


@pytest.fixture
def real_hashing(settings):
    """Django's default hasher at full strength (the suite's fixtures use a cheap one)."""
    settings.PASSWORD_HASHERS = ["incidents.tests.test_login_throttle.CountingPBKDF2"]
    CALLS["n"] = 0


@pytest.fixture
def rob(settings, responder):
    # Three instead of the default five, to keep the tests short.
    settings.AXES_FAILURE_LIMIT = 3
    responder.set_password("right-horse-battery")
    responder.save()
    return responder


def attempt(client: Client, password: str, ip: str = "203.0.113.5", **extra):
    return client.post("/accounts/login/", {"username": "rob", "password": password}, REMOTE_ADDR=ip, **extra)


def test_wrong_passwords_lock_the_username_from_that_address_then_even_the_right_one_is_refused(real_hashing, rob):
    client = Client()
    for _ in range(2):
        assert attempt(client, "wrong").status_code == 200
    # The third wrong one is the last: its answer says so already.
    assert attempt(client, "wrong").status_code == 429
    locked = attempt(client, "right-horse-battery")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many wrong passwords" in page and "15 minutes" in page
    assert locked["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session


def test_a_locked_out_attempt_hashes_no_password(real_hashing, rob):
    client = Client()
    for _ in range(3):
        attempt(client, "wrong")
    CALLS["n"] = 0
    for _ in range(10):
        assert attempt(client, "wrong").status_code == 429
    assert CALLS["n"] == 0
    # The check above can fail: an unlocked wrong attempt does hash.
    assert attempt(client, "wrong", ip="198.51.100.9").status_code == 200
    assert CALLS["n"] == 1


def test_the_same_username_from_another_address_still_signs_in(rob):
    for _ in range(3):
        attempt(Client(), "wrong", ip="203.0.113.5")
    other = Client()
    assert attempt(other, "right-horse-battery", ip="198.51.100.7").status_code == 302


def test_another_user_behind_the_same_address_still_signs_in(rob, other_responder):
    for _ in range(3):
        attempt(Client(), "wrong")
    client = Client()
    response = client.post("/accounts/login/", {"username": "ola", "password": "pw"}, REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 302


def test_the_lock_lifts_after_the_cooloff(rob, time_machine):
    time_machine.move_to("2026-12-01 10:00:00Z")
    for _ in range(3):
        attempt(Client(), "wrong")
    assert attempt(Client(), "right-horse-battery").status_code == 429
    time_machine.move_to("2026-12-01 10:16:00Z")
    assert attempt(Client(), "right-horse-battery").status_code == 302


def test_a_forged_forwarded_for_header_does_not_pick_a_fresh_address(rob, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(3):
        attempt(Client(), "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    assert attempt(Client(), "right-horse-battery", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_behind_one_proxy_the_address_the_proxy_appended_counts(rob, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "172.18.0.2"
    for _ in range(3):
        # The client writes its own X-Forwarded-For entry; the proxy appends the real one.
        attempt(Client(), "wrong", ip=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    assert attempt(Client(), "right-horse-battery", ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    # Another client behind the same proxy is not locked out.
    assert attempt(Client(), "right-horse-battery", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 302


def test_a_right_password_before_the_limit_resets_the_count(rob):
    for _ in range(2):
        attempt(Client(), "wrong")
    assert attempt(Client(), "right-horse-battery").status_code == 302
    for _ in range(2):
        attempt(Client(), "wrong")
    assert attempt(Client(), "right-horse-battery").status_code == 302
