from django import forms

from incidents.forms import FastSelect
from incidents.models import Incident, IncidentType, Service, Severity


class ReportFilterForm(forms.Form):
    """The filters of /reports/ and its export. A value that names nothing is an error shown beside
    its field (the page then answers 400 and draws no figures)."""

    service = forms.ModelChoiceField(
        queryset=Service.objects.only("slug", "name"),
        to_field_name="slug",
        required=False,
        empty_label="Any service",
        widget=FastSelect,
        error_messages={"invalid_choice": "No service has this slug."},
    )
    type = forms.ModelChoiceField(
        queryset=IncidentType.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="Any type",
        error_messages={"invalid_choice": "No incident type has this slug."},
    )
    severity = forms.ChoiceField(
        choices=[("", "Any severity"), *Severity.choices],
        required=False,
        error_messages={"invalid_choice": "Choose critical, high, medium or low."},
    )
    source = forms.ChoiceField(
        choices=[("", "Any source"), *Incident.Source.choices],
        required=False,
        error_messages={"invalid_choice": "Choose web, alertmanager, api or slack."},
    )
