import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.utils.timezone import localdate

from incidents.models import Service
from reviews.models import ActionItem, Review


class ActionItemFilter(django_filters.FilterSet):
    """/reviews/actions/: every action item, filtered by what the query string says (a value that
    does not parse is shown as an error beside its field and ignored)."""

    owner = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.filter(action_items__isnull=False).distinct().order_by("username"),
        to_field_name="username",
        empty_label="Anyone",
    )
    state = django_filters.ChoiceFilter(choices=ActionItem.State.choices, empty_label="Any state")
    overdue = django_filters.BooleanFilter(method="only_overdue", label="Overdue only", widget=forms.CheckboxInput)
    service = django_filters.ModelChoiceFilter(
        field_name="review__incident__service",
        queryset=Service.objects.all(),
        to_field_name="slug",
        empty_label="Any service",
    )
    type = django_filters.ChoiceFilter(choices=ActionItem.Type.choices, empty_label="Any type")
    # The reports' learning loop links its figures per priority here (reviews/reports.py).
    priority = django_filters.ChoiceFilter(choices=ActionItem.Priority.choices, empty_label="Any priority")

    class Meta:
        model = ActionItem
        fields = []

    def only_overdue(self, queryset, name, value):
        return queryset.overdue(localdate()) if value else queryset


class ReviewFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=Review.State.choices, empty_label="Any state")
    service = django_filters.ModelChoiceFilter(
        field_name="incident__service", queryset=Service.objects.all(), to_field_name="slug", empty_label="Any service"
    )

    class Meta:
        model = Review
        fields = []
