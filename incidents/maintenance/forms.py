"""The forms of the maintenance page (managers: windows; responders and managers: silences).
Times are read in the signed-in user's time zone; every bad input is refused with a message."""

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents.forms import LocalDateTimeInput
from incidents.models import COMMENT_MAX, DESCRIPTION_MAX, Service, parse_matchers

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
# The longest window or silence: longer is almost always a typo in the year.
LONGEST = dt.timedelta(days=31)
SILENCE_HOURS = [(1, "1 hour"), (2, "2 hours"), (4, "4 hours"), (8, "8 hours"), (24, "1 day"), (72, "3 days")]


class WindowForm(forms.Form):
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one service.", "invalid_choice": "Choose services from the list."},
    )
    start = forms.DateTimeField(
        widget=LocalDateTimeInput(),
        input_formats=DATETIME_FORMATS,
        error_messages={"invalid": "Enter a date and time like 2026-11-27 22:00."},
    )
    end = forms.DateTimeField(
        widget=LocalDateTimeInput(),
        input_formats=DATETIME_FORMATS,
        error_messages={"invalid": "Enter a date and time like 2026-11-27 23:00."},
    )
    description = forms.CharField(
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Public: the status page shows it and the services' stakeholders get it by email. "
        "Say what users will notice.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = Service.objects.order_by("name")
        self.fields["start"].help_text = f"In your time zone ({timezone.get_current_timezone_name()})."

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            problem = period_problem(start, end)
            if problem:
                self.add_error("end", problem)
        return data


def period_problem(start: dt.datetime, end: dt.datetime) -> str:
    """What is wrong with a window's times, or "" (the page and the API say the same)."""
    if end <= start:
        return "The end must be after the start."
    if end <= timezone.now():
        return "This period is over already: a window is for now or the future."
    if end - start > LONGEST:
        return "A window lasts at most 31 days."
    return ""


class SilenceForm(forms.Form):
    matchers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='One per line, like Alertmanager: alertname="HighLatency", instance=~"web-.*", env!="test". '
        "An alert is silenced when every line matches.",
    )
    hours = forms.TypedChoiceField(
        label="For",
        choices=SILENCE_HOURS,
        coerce=int,
        initial=2,
        error_messages={"invalid_choice": "Choose a duration."},
    )
    comment = forms.CharField(max_length=COMMENT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_matchers(self) -> list[dict]:
        try:
            return parse_matchers(self.cleaned_data["matchers"])
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from None
