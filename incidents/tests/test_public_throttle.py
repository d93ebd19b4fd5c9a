"""How often one client, and one address, may use a public form (incidents/security.py
`throttle`): per client a refusal, per address silence, each form counted on its own, within a
window of minutes."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.test import RequestFactory
from django.utils.timezone import now

from incidents.models import PublicRequest
from incidents.security import QUIET, REFUSED, SEND, email_digest, throttle, too_many_requests

pytestmark = pytest.mark.django_db


def ask(email="ann@example.com", ip="10.0.0.1", form="subscribe", per_ip=5, per_address=2, minutes=60):
    request = RequestFactory().post("/", REMOTE_ADDR=ip)
    return throttle(form, request, email, per_ip=per_ip, per_address=per_address, minutes=minutes)


def test_an_address_is_mailed_per_address_times_then_quietly_not_and_each_ask_is_counted():
    assert [ask() for _ in range(3)] == [SEND, SEND, QUIET]
    rows = PublicRequest.objects.order_by("pk").values_list("form", "ip", "sent", "email_digest")
    digest = hashlib.sha256(b"ann@example.com").hexdigest()
    assert list(rows) == [
        ("subscribe", "10.0.0.1", True, digest),
        ("subscribe", "10.0.0.1", True, digest),
        ("subscribe", "10.0.0.1", False, digest),
    ]


def test_the_address_is_counted_in_its_lower_case_trimmed_form():
    assert email_digest("  Ann@Example.COM ") == hashlib.sha256(b"ann@example.com").hexdigest()
    assert [ask(" ANN@example.com"), ask("ann@EXAMPLE.com "), ask("ann@example.com")] == [SEND, SEND, QUIET]


def test_a_client_is_refused_after_per_ip_asks_and_a_refusal_is_not_counted():
    assert [ask(f"u{i}@example.com", per_address=9) for i in range(5)] == [SEND] * 5
    assert ask("late@example.com") == REFUSED
    assert PublicRequest.objects.count() == 5
    assert ask("late@example.com", ip="10.0.0.2") == SEND


def test_a_lowered_limit_holds_for_those_already_past_it():
    for i in range(4):
        assert ask(f"u{i}@example.com", per_ip=10, per_address=9) == SEND
    assert ask("new@example.com", per_ip=2) == REFUSED
    for _ in range(3):
        assert ask("bob@example.com", ip=f"10.0.1.{_}", per_address=5) == SEND
    assert ask("bob@example.com", ip="10.0.2.1", per_address=1) == QUIET


def test_the_forms_are_counted_apart():
    assert [ask(), ask()] == [SEND, SEND]
    assert ask(form="report") == SEND
    for i in range(3):
        assert ask(f"u{i}@example.com") == SEND
    assert ask("x@example.com") == REFUSED
    assert ask("x@example.com", form="report") == SEND


def test_the_limits_reset_after_the_window_and_old_rows_go():
    assert [ask(), ask(), ask()] == [SEND, SEND, QUIET]
    with time_machine.travel(now() + timedelta(minutes=59)):
        assert ask() == QUIET
    with time_machine.travel(now() + timedelta(minutes=61)):
        assert ask() == SEND  # the two mails of minute 0 are out of the window…
        assert PublicRequest.objects.count() == 2  # …and their rows gone; minute 59's is kept
        assert [ask(), ask()] == [SEND, QUIET]  # only mails count: minute 59's ask sent none
    with time_machine.travel(now() + timedelta(minutes=125)):
        assert ask() == SEND
        assert PublicRequest.objects.count() == 1


def test_a_request_without_a_client_address_is_counted_as_unknown():
    request = RequestFactory().post("/")
    del request.META["REMOTE_ADDR"]
    assert throttle("subscribe", request, "ann@example.com", per_ip=1, per_address=1, minutes=60) == SEND
    assert PublicRequest.objects.get().ip == "unknown"
    assert throttle("subscribe", request, "bob@example.com", per_ip=1, per_address=1, minutes=60) == REFUSED


def test_too_many_requests_says_when_to_try_again():
    response = too_many_requests(RequestFactory().get("/"), 15)
    assert (response.status_code, response["Retry-After"]) == (429, "900")
    assert "try again in 15 minutes" in response.content.decode()
