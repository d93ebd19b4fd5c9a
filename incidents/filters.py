from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from incidents import choices
from incidents.forms import FastSelect
from incidents.models import REF_RE, Incident, IncidentType, Service, Severity, Status, Team

# Must match the configuration of the search_document column (migration 0009_speed_performance).
SEARCH_CONFIG = "english"
# How many of the newest matches a search ranks (IncidentFilter.search).
SEARCH_RANKED = 1000


class IncidentFilter(django_filters.FilterSet):
    """The incident list's filters. Everything lives in the query string, so a list can be shared.

    A value that does not parse is ignored and its error shown beside the field (never a 500).
    """

    q = django_filters.CharFilter(method="search", label="Search", max_length=200)
    type = django_filters.ModelChoiceFilter(
        queryset=IncidentType.objects.all(),
        to_field_name="slug",
        empty_label="Any type",
        label="Type",
        widget=FastSelect,
    )
    # distinct=False: these are columns of the incident itself, no join can repeat a row, and a
    # DISTINCT over every column made PostgreSQL sort the whole match (the filtered list, bench/).
    severity = django_filters.MultipleChoiceFilter(
        choices=Severity.choices, widget=forms.CheckboxSelectMultiple, distinct=False, method="of_severity"
    )
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    source = django_filters.ChoiceFilter(choices=Incident.Source.choices, empty_label="Any source", distinct=False)
    open = django_filters.BooleanFilter(method="only_open", label="Open only", widget=forms.CheckboxInput)
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.only("slug", "name"),
        to_field_name="slug",
        empty_label="Any service",
        widget=FastSelect,
    )
    # One team's services (docs/teams.md); the "my teams" default of the pages is applied before
    # the filters (incidents/teams.py), so this narrows further or, under "everything", picks one.
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.only("slug", "name"),
        to_field_name="slug",
        field_name="service__team",
        empty_label="Any team",
        distinct=False,
        widget=FastSelect,
    )
    # A username box, not a list of every account: with thousands of users the list was most of
    # the page's time (and unusable on a phone). Still validated: an unknown name is an error.
    reporter = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.only("username"),
        to_field_name="username",
        widget=forms.TextInput(attrs={"placeholder": "Anyone (a username)", "autocomplete": "off"}),
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
        widget=FastSelect,
    )

    class Meta:
        model = Incident
        fields = []

    @property
    def form(self):
        """The filters' form, its type and service options from the cached lists
        (incidents/choices.py); a chosen value is still checked against the querysets above."""
        if not hasattr(self, "_form"):
            form = super().form
            # Callables: read when a select is drawn, not for a list that only filters (an export).
            form.fields["type"].widget.choices = lambda: [("", "Any type"), *choices.incident_types()]
            form.fields["service"].widget.choices = lambda: [("", "Any service"), *choices.services()]
            form.fields["team"].widget.choices = lambda: [("", "Any team"), *choices.teams()]
        return self._form

    def search(self, queryset, name, value):
        """Title and description. PostgreSQL: full-text (stemmed, websearch syntax: "quoted phrase",
        -word, or), best match first unless a sort is chosen, through the GIN-indexed column of
        migration 0009_speed_performance; SQLite: case-insensitive substring. A reference (INC-42)
        finds its incident."""
        value = value.strip()
        if not value:
            return queryset
        match = REF_RE.match(value)
        by_ref = Q(pk=int(match.group(1))) if match else Q(pk__in=[])
        if connection.vendor != "postgresql":
            return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value) | by_ref)
        query = SearchQuery(value, config=SEARCH_CONFIG, search_type="websearch")
        # Unqualified: only incidents have this column, and inside the subquery below the table has
        # another alias (U0); a qualified name would tie the subquery to the outer row.
        document = RawSQL("search_document", [], SearchVectorField())
        # Ranking reads every match's document: for a word in most incidents that is a scan of the
        # table. Rank the newest SEARCH_RANKED matches (the planner finds them through the GIN index
        # or the reported_at index, whichever is cheaper), best first.
        newest = queryset.alias(document=document).filter(document=query).order_by("-reported_at", "-pk").values("pk")
        return (
            queryset.alias(document=document)
            .filter(Q(pk__in=newest[:SEARCH_RANKED]) | by_ref)
            .annotate(rank=SearchRank(F("document"), query))
            .order_by("-rank", "-reported_at", "-pk")
        )

    def filter_queryset(self, queryset):
        """The other filters first, then the search (it ranks what they leave), then the chosen sort."""
        data = self.form.cleaned_data
        for name in [*(n for n in data if n not in ("q", "sort")), "q", "sort"]:
            if name in data:
                queryset = self.filters[name].filter(queryset, data[name])
        return queryset

    def of_severity(self, queryset, name, value):
        # By the stored rank, which the (status, severity_rank, reported_at) index holds: a status and
        # severity filter sorted by severity is then one index range, and its count an index-only scan.
        return queryset.filter(severity_rank__in=[Severity(v).rank for v in value]) if value else queryset

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
