from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from incidents.models import REF_RE, Incident, IncidentType, Service, Severity, Status


class IncidentFilter(django_filters.FilterSet):
    """The incident list's filters. Everything lives in the query string, so a list can be shared.

    A value that does not parse is ignored and its error shown beside the field (never a 500).
    """

    q = django_filters.CharFilter(method="search", label="Search", max_length=200)
    type = django_filters.ModelChoiceFilter(
        queryset=IncidentType.objects.all(), to_field_name="slug", empty_label="Any type", label="Type"
    )
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices, widget=forms.CheckboxSelectMultiple)
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, widget=forms.CheckboxSelectMultiple)
    open = django_filters.BooleanFilter(method="only_open", label="Open only", widget=forms.CheckboxInput)
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(), to_field_name="slug", empty_label="Any service"
    )
    reporter = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.all(), to_field_name="username", empty_label="Anyone"
    )
    reported_after = django_filters.DateFilter(
        field_name="reported_at",
        method="on_or_after",
        label="Reported from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reported_before = django_filters.DateFilter(
        field_name="reported_at",
        method="on_or_before",
        label="Reported until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sort = django_filters.OrderingFilter(
        choices=[("newest", "Newest first"), ("oldest", "Oldest first"), ("severity", "Most severe first")],
        method="order",
        empty_label=None,
        label="Sort",
    )

    class Meta:
        model = Incident
        fields = []

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        match = REF_RE.match(value)
        condition = Q(title__icontains=value) | Q(description__icontains=value)
        if match:
            condition |= Q(pk=int(match.group(1)))
        return queryset.filter(condition)

    def only_open(self, queryset, name, value):
        return queryset.open() if value else queryset

    def on_or_after(self, queryset, name, value):
        start = _day_start(value)
        if start is None:  # before the first representable instant: no bound
            return queryset
        return queryset.filter(reported_at__gte=start)

    def on_or_before(self, queryset, name, value):
        end = _day_start(value + timedelta(days=1)) if value < date.max else None
        if end is None:  # after the last representable instant: no bound
            return queryset if value > date.min else queryset.none()
        return queryset.filter(reported_at__lt=end)

    def order(self, queryset, name, value):
        choice = value[0] if value else "newest"
        if choice == "oldest":
            return queryset.order_by("reported_at", "pk")
        if choice == "severity":
            return queryset.order_by("severity_rank", "-reported_at", "-pk")
        return queryset.order_by("-reported_at", "-pk")


def _day_start(day: date) -> datetime | None:
    """Midnight of `day` in the user's time zone, or None where it has no UTC equivalent
    (0001-01-01 east of Greenwich, 9999-12-31 west of it)."""
    try:
        return timezone.make_aware(datetime.combine(day, time.min)).astimezone(UTC)
    except OverflowError:
        return None
