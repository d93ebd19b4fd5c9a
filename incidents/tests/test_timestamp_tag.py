"""`{% timestamp %}` draws exactly what the three `date` filters it replaced drew, in every time zone."""

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.utils import timezone

FILTERS = Template(
    '{% if value %}<time datetime="{{ value|date:\'c\' }}" title="{{ value|date:title }}">{{ value|date:fmt }}</time>'
    "{% endif %}"
)
TAG = Template("{% load incident_tags %}{% timestamp value fmt title=title %}")

MOMENTS = [
    datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC),  # an hour before Europe's clocks go forward
    datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),  # the moment they do
    datetime(2026, 1, 5, 7, 3, 9, tzinfo=UTC),  # single-digit day, month, hour, minute, second
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"])
@pytest.mark.parametrize(
    ("fmt", "title"),
    [
        ("Y-m-d H:i T", "Y-m-d H:i:s T"),
        ("Y-m-d H:i", "Y-m-d H:i T"),
        ("j M Y, H:i T", "D, j N Y"),  # names of months and days: through Django's formatter
    ],
)
def test_the_tag_draws_what_the_date_filters_drew(zone, fmt, title):
    with timezone.override(zone):
        for moment in MOMENTS:
            context = {"value": moment, "fmt": fmt, "title": title}
            assert TAG.render(Context(context)) == FILTERS.render(Context(context))


def test_in_the_hour_that_happens_twice_it_names_the_zone_django_leaves_out():
    # Django's `date:"T"` draws nothing for an ambiguous local time; the tag says which one it is.
    tag = Template('{% load incident_tags %}{% timestamp value "H:i T" %}')
    with timezone.override("Europe/London"):
        first = tag.render(Context({"value": datetime(2026, 10, 25, 0, 30, tzinfo=UTC)}))
        second = tag.render(Context({"value": datetime(2026, 10, 25, 1, 30, tzinfo=UTC)}))
    assert first == '<time datetime="2026-10-25T01:30:00+01:00">01:30 BST</time>'
    assert second == '<time datetime="2026-10-25T01:30:00+00:00">01:30 GMT</time>'


def test_without_a_title_or_a_time_it_draws_what_it_should():
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with timezone.override("Europe/Berlin"):
        plain = Template("{% load incident_tags %}{% timestamp value %}").render(Context({"value": moment}))
        assert plain == '<time datetime="2026-07-01T14:00:00+02:00">2026-07-01 14:00 CEST</time>'
        assert Template("{% load incident_tags %}{% timestamp value %}").render(Context({"value": None})) == ""
