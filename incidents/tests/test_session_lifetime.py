"""Sessions end after an idle spell and after an absolute lifetime (settings with defaults)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def signed_in(responder, time_machine):
    time_machine.move_to(START, tick=False)
    client = Client()
    assert client.post("/accounts/login/", {"username": "rob", "password": "pw"}).status_code == 302
    assert client.get("/").status_code == 200
    return client


def signed_in_now(client: Client) -> bool:
    response = client.get("/")
    return response.status_code == 200


def test_the_defaults_are_twelve_hours_idle_and_seven_days_in_all():
    assert settings.SESSION_IDLE_MINUTES == 12 * 60
    assert settings.SESSION_MAX_DAYS == 7
    assert settings.SESSION_COOKIE_AGE == 7 * 86400


def test_a_session_left_idle_for_longer_than_the_limit_is_signed_out(signed_in, time_machine):
    time_machine.move_to(START + timedelta(hours=11, minutes=59), tick=False)
    assert signed_in_now(signed_in)
    time_machine.move_to(START + timedelta(hours=24), tick=False)
    assert not signed_in_now(signed_in)
    assert signed_in.get("/")["Location"].startswith("/accounts/login/")


def test_a_busy_session_still_ends_after_the_absolute_lifetime(signed_in, time_machine):
    at = START
    for _ in range(13):  # a request every 11 hours, for 6 days
        at += timedelta(hours=11)
        time_machine.move_to(at, tick=False)
        assert signed_in_now(signed_in)
    time_machine.move_to(START + timedelta(days=7, minutes=1), tick=False)
    assert not signed_in_now(signed_in)


def test_the_limits_are_settings(signed_in, time_machine, settings):
    settings.SESSION_IDLE_MINUTES = 30
    time_machine.move_to(START + timedelta(minutes=31), tick=False)
    assert not signed_in_now(signed_in)
