"""Forms for rotations, overrides and escalation policies (managers), each refusing bad input with a clear message."""

import datetime as dt
import re
import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from incidents import roles
from incidents.forms import LocalDateTimeInput
from incidents.models import EscalationPolicy, EscalationStep, Override, Rotation, Service, Severity
from incidents.models.escalation import MAX_DELAY_MINUTES, MAX_REPEAT, MAX_STEPS
from incidents.models.oncall import MAX_SHIFT_HOURS
from incidents.people import responders
from incidents.teams import configurable_teams

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def zone_choices():
    return [(z, z) for z in sorted(zoneinfo.available_timezones())]


class RotationForm(forms.ModelForm):
    """A rotation and its members in order, typed as usernames one per line (or comma-separated)."""

    time_zone = forms.ChoiceField(choices=zone_choices, help_text="The handoff time is in this time zone.")
    members = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        required=False,
        help_text="Usernames of responders, in order, one per line: the first takes the first shift.",
    )

    class Meta:
        model = Rotation
        fields = [
            "name",
            "team",
            "services",
            "is_default",
            "shift_kind",
            "shift_hours",
            "handoff_time",
            "time_zone",
            "start_date",
        ]
        widgets = {
            "services": forms.CheckboxSelectMultiple,
            "handoff_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "start_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # The teams this user configures (incidents/teams.py): a team manager's rotation belongs to
        # one of their teams; only a global manager may leave it to no team.
        self.global_manager = user.has_perm(roles.CHANGE_TEAM)
        team = self.fields["team"]
        team.queryset = configurable_teams(user).order_by("name")
        team.required = not self.global_manager
        team.empty_label = "No team (global managers configure it)"
        team.help_text = "Its managers configure this rotation and its overrides."
        team.error_messages["invalid_choice"] = "Choose one of the teams you manage."
        team.error_messages["required"] = "Choose the team this rotation belongs to: one of the teams you manage."
        self.fields["services"].queryset = Service.objects.order_by("name")
        self.fields["start_date"].error_messages["invalid"] = "Enter a date like 2026-11-30."
        self.fields["handoff_time"].error_messages["invalid"] = "Enter a time like 09:00."
        self.fields["time_zone"].error_messages["invalid_choice"] = (
            "Choose an IANA time zone such as Europe/London or America/New_York."
        )
        if self.instance.pk and not self.is_bound:
            self.initial["members"] = "\n".join(
                m.user.username for m in self.instance.memberships.select_related("user")
            )

    def clean_members(self) -> list:
        names = [n for n in re.split(r"[\s,]+", self.cleaned_data["members"]) if n]
        if len(names) != len(set(names)):
            raise forms.ValidationError("Each person may appear once in a rotation.")
        if len(names) > 100:
            raise forms.ValidationError("A rotation has at most 100 members.")
        found = {u.username: u for u in responders().filter(username__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise forms.ValidationError(
                f"Not an active responder: {', '.join(unknown[:5])}. Only people who may lead incidents can be on call."
            )
        return [found[n] for n in names]

    def clean(self):
        data = super().clean()
        kind, hours = data.get("shift_kind"), data.get("shift_hours")
        if kind == Rotation.ShiftKind.HOURS and not hours:
            self.add_error("shift_hours", "Say how many hours one shift lasts.")
        if kind == Rotation.ShiftKind.HOURS and hours and not 1 <= hours <= MAX_SHIFT_HOURS:
            self.add_error("shift_hours", f"A shift lasts between 1 and {MAX_SHIFT_HOURS} hours.")
        if kind and kind != Rotation.ShiftKind.HOURS:
            data["shift_hours"] = None
        if not data.get("is_default") and "services" in data and not data["services"]:
            self.add_error("services", "Choose the services this rotation answers for, or make it the default.")
        if data.get("is_default") and not self.instance.is_default and not self.global_manager:
            # The default rotation answers for every team's services: not one team's to set.
            self.add_error("is_default", "Only a global manager may make a rotation the default for everything.")
        return data


class OverrideForm(forms.ModelForm):
    """Someone covers a rotation for a period. Times are read in the signed-in user's time zone."""

    start = forms.DateTimeField(
        widget=LocalDateTimeInput(),
        input_formats=DATETIME_FORMATS,
        error_messages={"invalid": "Enter a date and time like 2026-11-27 14:05."},
    )
    end = forms.DateTimeField(
        widget=LocalDateTimeInput(),
        input_formats=DATETIME_FORMATS,
        error_messages={"invalid": "Enter a date and time like 2026-11-27 18:00."},
    )

    class Meta:
        model = Override
        fields = ["user", "covered_user", "start", "end", "reason"]

    def __init__(self, *args, rotation: Rotation, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.rotation = rotation
        self.fields["user"].queryset = responders()
        self.fields["user"].error_messages["invalid_choice"] = "Choose an active responder."
        User = get_user_model()
        self.fields["covered_user"].queryset = User.objects.filter(rotation_memberships__rotation=rotation).order_by(
            "username"
        )
        self.fields["covered_user"].error_messages["invalid_choice"] = "Choose a member of this rotation."
        self.fields["start"].help_text = f"In your time zone ({timezone.get_current_timezone_name()})."

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end <= start:
                self.add_error("end", "The end must be after the start.")
            elif end <= timezone.now():
                self.add_error("end", "This period is over already; an override changes only the future.")
            elif end - start > dt.timedelta(days=92):
                self.add_error("end", "An override lasts at most 92 days; change the rotation instead.")
        return data


class MonthInput(forms.TextInput):
    # A month picker where the browser has one; elsewhere a text box that takes "2026-03".
    input_type = "month"


MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")
# The first month the load report shows: anything earlier is a typing mistake, not history.
EARLIEST = dt.date(2000, 1, 1)


class LoadMonthForm(forms.Form):
    """The month of the on-call load report (`?month=2026-03`, a GET form). Empty: this month.
    A month that is not one, before 2000 or not yet begun is refused with a message."""

    month = forms.CharField(
        required=False,
        widget=MonthInput(attrs={"placeholder": "YYYY-MM"}),
        help_text="A calendar month in your time zone, such as 2026-03.",
    )

    def __init__(self, *args, today: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_month(self) -> dt.date:
        text = self.cleaned_data["month"].strip()
        this_month = self.today.replace(day=1)
        if not text:
            return this_month
        match = MONTH_RE.match(text)
        if not match or not 1 <= int(match[2]) <= 12:
            raise forms.ValidationError("Enter a month as year and month, such as 2026-03.")
        first = dt.date(int(match[1]), int(match[2]), 1)
        if first < EARLIEST:
            raise forms.ValidationError(f"Choose a month from {EARLIEST:%Y-%m} on.")
        if first > this_month:
            raise forms.ValidationError(f"{first:%Y-%m} has not begun yet: choose {this_month:%Y-%m} or earlier.")
        return first


# --- escalation policies ----------------------------------------------------------------------


class PolicyForm(forms.ModelForm):
    """A policy's own fields and the services that follow it. A team manager who is not a Beacon
    manager may only choose one of their teams, and neither make a policy the default nor move
    services of other teams onto it."""

    severities = forms.MultipleChoiceField(
        choices=Severity.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Severities that escalate",
        help_text="An unacknowledged incident of another severity pages only its lead.",
        error_messages={"invalid_choice": "Choose severities among Critical, High, Medium and Low."},
    )
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The services this policy covers. Services with no policy follow the default one.",
    )

    class Meta:
        model = EscalationPolicy
        fields = ["name", "description", "team", "severities", "repeat", "skip_unreachable", "is_default"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.full_manager = user is None or user.has_perm(roles.CHANGE_ESCALATIONPOLICY)
        services = Service.objects.order_by("name")
        if not self.full_manager:
            teams = configurable_teams(user).order_by("name")
            self.fields["team"].queryset = teams
            self.fields["team"].required = True
            self.fields["team"].empty_label = None
            services = services.filter(team__in=teams)
            del self.fields["is_default"]
        self.fields["team"].error_messages["invalid_choice"] = "Choose one of your teams."
        self.fields["repeat"].widget.attrs.update({"min": 0, "max": MAX_REPEAT})
        self.fields["repeat"].error_messages.update(
            {"min_value": "Repeat 0 to 10 times.", "max_value": "Repeat 0 to 10 times."}
        )
        self.fields["services"].queryset = services
        self.fields["services"].error_messages["invalid_choice"] = "Choose services from the list."
        if self.instance.pk and not self.is_bound:
            self.initial["services"] = list(self.instance.services.values_list("pk", flat=True))

    def clean_severities(self) -> list[str]:
        chosen = self.cleaned_data["severities"]
        return [s for s in Severity.values if s in chosen]

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.instance.is_default and "is_default" in data and not data["is_default"]:
            self.add_error("is_default", "Make another policy the default instead: one policy must be.")
        if data.get("is_default"):
            other = EscalationPolicy.objects.filter(is_default=True).exclude(pk=self.instance.pk).first()
            if other is not None:
                self.add_error("is_default", f"“{other.name}” is already the default policy; only one may be.")
        return data


class StepForm(forms.ModelForm):
    """One step: whom it pages, after which delay. The target decides which of rotation and
    person it needs."""

    class Meta:
        model = EscalationStep
        fields = ["target", "delay_minutes", "rotation", "user"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].label = "Page"
        self.fields["target"].error_messages["required"] = "Choose whom this step pages."
        self.fields["target"].error_messages["invalid_choice"] = "Choose whom this step pages from the list."
        delay = self.fields["delay_minutes"]
        delay.widget.attrs.update({"min": 0, "max": MAX_DELAY_MINUTES})
        delay.error_messages.update(
            {
                "min_value": "A delay is zero or more minutes.",
                "max_value": f"A delay is at most {MAX_DELAY_MINUTES} minutes (a day).",
                "invalid": "Enter the delay in whole minutes, like 5.",
            }
        )
        self.fields["rotation"].queryset = Rotation.objects.order_by("name")
        self.fields["rotation"].empty_label = "the service's own rotation"
        self.fields["rotation"].error_messages["invalid_choice"] = (
            "That rotation does not exist (any more): choose one from the list."
        )
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["user"].label = "Person"
        self.fields["user"].error_messages["invalid_choice"] = "Choose an active person from the list."

    def clean(self):
        data = super().clean()
        target = data.get("target")
        if target == EscalationStep.Target.USER and not data.get("user") and "user" not in self.errors:
            self.add_error("user", "Choose the person this step pages.")
        if target and target != EscalationStep.Target.USER:
            data["user"] = None
        if target and target not in EscalationStep.ROTATION_TARGETS:
            data["rotation"] = None
        return data


class BaseStepFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not kept:
            raise forms.ValidationError("A policy needs at least one step.")
        if len(kept) > MAX_STEPS:
            raise forms.ValidationError(f"A policy has at most {MAX_STEPS} steps.")
        severities = getattr(self, "severities", [])
        unset = [s for s in severities if not settings.ONCALL_ESCALATION_MINUTES.get(s)]
        if unset and any(f.cleaned_data.get("delay_minutes") is None for f in kept):
            names = ", ".join(Severity(s).label for s in unset)
            raise forms.ValidationError(
                f"Give every step a delay: {names} has no delay of its own in the settings to fall back on."
            )


StepFormSet = forms.inlineformset_factory(
    EscalationPolicy,
    EscalationStep,
    form=StepForm,
    formset=BaseStepFormSet,
    extra=0,
    can_delete=True,
    can_order=True,
    max_num=MAX_STEPS,
    absolute_max=MAX_STEPS + 1,
)


class PreviewForm(forms.Form):
    """The preview's question: an incident of this severity, reported at this time, for this service."""

    severity = forms.ChoiceField(
        choices=Severity.choices, error_messages={"invalid_choice": "Choose Critical, High, Medium or Low."}
    )
    at = forms.DateTimeField(
        label="Reported at",
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=DATETIME_FORMATS,
        error_messages={"invalid": "Enter a date and time like 2026-11-27 03:00."},
    )
    service = forms.ModelChoiceField(
        queryset=Service.objects.none(),
        required=False,
        empty_label="(none: the service's own rotation stays unknown)",
        error_messages={"invalid_choice": "Choose a service from the list."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.order_by("name")
        self.fields["at"].help_text = f"In your time zone ({timezone.get_current_timezone_name()}). Empty: now."
