"""Silence matchers read and match like Alertmanager's; bad ones are refused with a message that
names the problem, and nothing is stored."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.timezone import now

from incidents.models import MaintenanceWindow, Silence, parse_matchers, silence_for, validate_matchers
from incidents.tests.factories import ServiceFactory


def silence(*matchers, **fields) -> Silence:
    return Silence(
        matchers=[{"name": n, "op": o, "value": v} for n, o, v in matchers],
        expires_at=now() + dt.timedelta(hours=1),
        **fields,
    )


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        (("alertname", "=", "Down"), {"alertname": "Down"}, True),
        (("alertname", "=", "Down"), {"alertname": "Downish"}, False),
        (("alertname", "=", "Down"), {}, False),
        (("env", "!=", "prod"), {"env": "test"}, True),
        (("env", "!=", "prod"), {"env": "prod"}, False),
        # A missing label is the empty string, as in Alertmanager.
        (("env", "!=", "prod"), {}, True),
        (("instance", "=~", "web-[0-9]+"), {"instance": "web-12"}, True),
        # Regexes are anchored at both ends.
        (("instance", "=~", "web-[0-9]+"), {"instance": "xweb-12"}, False),
        (("instance", "=~", "web-[0-9]+"), {"instance": "web-12x"}, False),
        (("instance", "!~", "web-.*"), {"instance": "db-1"}, True),
        (("instance", "!~", "web-.*"), {"instance": "web-1"}, False),
    ],
)
def test_each_operator_matches_as_alertmanager_does(matcher, labels, expected):
    assert silence(matcher).matches(labels) is expected


def test_every_matcher_must_match():
    both = silence(("alertname", "=", "Down"), ("env", "=", "prod"))
    assert both.matches({"alertname": "Down", "env": "prod"})
    assert not both.matches({"alertname": "Down", "env": "test"})
    assert silence_for({"alertname": "Down", "env": "test"}, [both, silence(("env", "=", "test"))]).matchers[0] == {
        "name": "env",
        "op": "=",
        "value": "test",
    }
    assert silence_for({"alertname": "Up"}, [both]) is None


def test_matchers_are_read_from_text_one_per_line():
    assert parse_matchers('alertname="High Latency"\n\n  instance =~ web-.*\nenv!="prod"') == [
        {"name": "alertname", "op": "=", "value": "High Latency"},
        {"name": "instance", "op": "=~", "value": "web-.*"},
        {"name": "env", "op": "!=", "value": "prod"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Give at least one matcher."),
        ("alertname", "Line 1: “alertname” is not a matcher"),
        ("9lives=x", "Line 1: “9lives=x” is not a matcher"),
        ('instance=~"web-("', "Matcher 1: “web-(” is not a valid regular expression"),
        ('env!="prod"', "this silence would silence every alert"),
        ('alertname=~".*"', "this silence would silence every alert"),
        ("alertname=a\x00b", "Matcher 1: null characters are not allowed."),
        ("alertname=" + "x" * 1001, "Matcher 1: the value is longer than 1000 characters."),
        ("\n".join(f"a{i}=x" for i in range(21)), "At most 20 matchers."),
    ],
)
def test_bad_matchers_are_refused_with_a_clear_message(text, message):
    with pytest.raises(ValidationError) as refused:
        parse_matchers(text)
    assert message in refused.value.messages[0]


@pytest.mark.parametrize(
    ("matchers", "message"),
    [
        ("alertname=Down", "Give at least one matcher."),
        ([{"name": "alertname", "op": "=="}], "Matcher 1: give exactly a name, an op and a value."),
        ([{"name": "alertname", "op": "==", "value": "x"}], "Matcher 1: the op must be one of =, !=, =~, !~."),
        ([{"name": "alert-name", "op": "=", "value": "x"}], "Matcher 1: “alert-name” is not a label name"),
        ([{"name": "a", "op": "=", "value": 3}], "Matcher 1: the name, op and value must be text."),
    ],
)
def test_bad_matcher_objects_are_refused(matchers, message):
    with pytest.raises(ValidationError) as refused:
        validate_matchers(matchers)
    assert message in refused.value.messages[0]


@pytest.mark.django_db
def test_a_silence_must_expire_after_it_starts_and_the_database_says_so_too():
    bad = silence(("alertname", "=", "Down"), starts_at=now())
    bad.expires_at = bad.starts_at
    with pytest.raises(ValidationError) as refused:
        bad.full_clean()
    assert refused.value.message_dict["expires_at"] == ["The expiry must be after the start."]
    with pytest.raises(IntegrityError), transaction.atomic():
        bad.save()
    assert not Silence.objects.exists()


@pytest.mark.django_db
def test_a_window_must_end_after_it_starts_and_hold_no_nul():
    start = now()
    window = MaintenanceWindow(start=start, end=start, description="Database upgrade")
    with pytest.raises(ValidationError) as refused:
        window.full_clean()
    assert refused.value.message_dict["end"] == ["The end must be after the start."]
    window = MaintenanceWindow(start=start, end=start + dt.timedelta(hours=1), description="bad\x00text")
    with pytest.raises(ValidationError) as refused:
        window.full_clean()
    assert refused.value.message_dict["description"] == ["Null characters are not allowed."]
    with pytest.raises(IntegrityError), transaction.atomic():
        MaintenanceWindow.objects.create(start=start, end=start - dt.timedelta(minutes=1), description="x")
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.django_db
def test_windows_and_silences_are_in_force_from_their_start_until_their_end_only():
    service = ServiceFactory(name="Checkout")
    start = now() + dt.timedelta(hours=1)
    window = MaintenanceWindow.objects.create(start=start, end=start + dt.timedelta(hours=1), description="x")
    window.services.add(service)
    assert not MaintenanceWindow.objects.active(start - dt.timedelta(seconds=1)).exists()
    assert MaintenanceWindow.objects.active(start).get() == window
    assert not MaintenanceWindow.objects.active(window.end).exists()
    assert window.state(start - dt.timedelta(seconds=1)) == "scheduled"
    assert window.state(start) == "ongoing"
    assert window.state(window.end) == "ended"
    quiet = silence(("alertname", "=", "Down"), starts_at=start)
    quiet.expires_at = start + dt.timedelta(minutes=30)
    quiet.save()
    assert not Silence.objects.active(start - dt.timedelta(seconds=1)).exists()
    assert Silence.objects.active(start + dt.timedelta(minutes=29)).get() == quiet
    # Expired silences stop matching on time: no task runs for it.
    assert not Silence.objects.active(quiet.expires_at).exists()
