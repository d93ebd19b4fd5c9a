import unicodedata
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from incidents.formrender import widget_attrs
from incidents.idempotency import IdempotencyTokenField
from incidents.models import (
    REF_RE,
    SEVERITY_DEFINITIONS,
    Incident,
    IncidentLink,
    IncidentType,
    Profile,
    Service,
    Severity,
    UpdateTemplate,
)
from incidents.people import display_name, responder_choices, responders

# Clocks drift: a report typed "now" on a laptop a little ahead is not "in the future".
FUTURE_TOLERANCE = timedelta(minutes=2)
# No incident Beacon tracks started before this; earlier dates are typing mistakes (year 0001
# once made the incident page fail for every viewer west of UTC).
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)

# Sizes of the report's texts, in characters: the form, the API schema (incidents/api/schemas.py)
# and docs/api.md say the same.
TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
IMPACT_MAX = 5_000
LOGS_MAX = 100_000
# A status update and a resolution summary (the API schema says the same).
UPDATE_MAX = 5_000
RESOLUTION_MAX = 20_000
TEXT_LIMITS = {"description": DESCRIPTION_MAX, "impact": IMPACT_MAX, "logs": LOGS_MAX}

# Characters that reorder how text is shown (embeddings, overrides, isolates): "‮gnp.exe" shows
# as "exe.png". Left-to-right and right-to-left marks (U+200E, U+200F) are fine.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")


def check_title(value: str) -> str:
    """A title is one visible line: refuse control characters, direction overrides and invisible-only text."""
    title = value.strip()
    if any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in title):
        raise forms.ValidationError("A title is one line of text: remove line breaks, tabs and control characters.")
    bidi = sorted({f"U+{ord(c):04X}" for c in title if c in BIDI_CONTROLS})
    if bidi:
        raise forms.ValidationError(
            f"The title contains invisible characters that reverse how text is shown ({', '.join(bidi)}): remove them."
        )
    if not any(c not in INVISIBLE and not c.isspace() for c in title):
        raise forms.ValidationError("Enter a title with visible text.")
    return title


def check_occurred_at(value: datetime) -> datetime:
    if value > timezone.now() + FUTURE_TOLERANCE:
        raise forms.ValidationError("The start time cannot lie in the future.")
    if value < EARLIEST_OCCURRED_AT:
        raise forms.ValidationError("The start time cannot lie before the year 2000: check the year.")
    return value


def limit_text_fields(form: forms.BaseForm) -> None:
    """Bound the report's long texts, saying the limit beside each field."""
    for name, limit in TEXT_LIMITS.items():
        field = form.fields.get(name)
        if field is None:
            continue
        field.max_length = limit  # type: ignore[attr-defined]  # every limited field is a CharField
        field.validators.append(MaxLengthValidator(limit))
        field.widget.attrs["maxlength"] = str(limit)
        note = f"At most {limit:,} characters."
        field.help_text = f"{field.help_text} {note}" if field.help_text else note


def severity_choices():
    """Each severity with its definition beside it, wherever a severity is chosen."""
    return [(s.value, format_html("<strong>{}</strong> — {}", s.label, SEVERITY_DEFINITIONS[s])) for s in Severity]


class IdempotentForm(forms.BaseForm):
    """A form that creates something: its hidden one-time token (declare
    `idempotency_token = IdempotencyTokenField()`) is taken out of cleaned_data into
    `self.idempotency_token`, for incidents.idempotency.once()."""

    # The field on the class (declared by subclasses), the token string once cleaned.
    idempotency_token: Any = ""

    def clean(self):
        data = super().clean()
        self.idempotency_token = (data or {}).pop("idempotency_token", "") or ""
        return data


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class TypeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, incident_type) -> str:
        if incident_type.description:
            return format_html("<strong>{}</strong> — {}", incident_type.name, incident_type.description)
        return format_html("<strong>{}</strong>", incident_type.name)


class IncidentForm(IdempotentForm, forms.ModelForm):
    """The report form. Field names are a contract (docs/api.md: the API takes the same names).

    The type comes first; its default severity is preselected and a type restricted by default
    makes the incident restricted whatever the box says (workflow.report).
    """

    type = TypeChoiceField(
        queryset=IncidentType.objects.none(),
        to_field_name="slug",
        empty_label=None,
        widget=forms.RadioSelect,
        label="Type",
        error_messages={"invalid_choice": "Choose one of the listed incident types."},
    )

    idempotency_token = IdempotencyTokenField()
    severity = forms.ChoiceField(choices=severity_choices, widget=forms.RadioSelect)
    restricted = forms.BooleanField(
        required=False,
        label="Restricted (need-to-know): only participants, the Security group and managers see it",
        help_text="Security incidents are always restricted.",
    )
    occurred_at = forms.DateTimeField(
        label="Started at",
        widget=LocalDateTimeInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="When users were first affected, in your time zone. Defaults to now.",
        error_messages={"invalid": "Enter a date and time like 2026-11-27 14:05."},
    )

    class Meta:
        model = Incident
        fields = ["type", "title", "service", "severity", "occurred_at", "description", "impact", "logs"]
        labels = {"title": "Title", "impact": "Impact on users", "logs": "Logs / error messages"}
        help_texts = {
            "title": "A short summary, e.g. “Checkout returns 500 for card payments”.",
            "description": "What is happening? What have you seen?",
            "impact": "Who is affected and how? How many users?",
            "logs": "Paste relevant logs or error messages. Kept exactly as pasted.",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "impact": forms.Textarea(attrs={"rows": 3}),
            "logs": forms.Textarea(attrs={"rows": 6, "class": "font-monospace", "spellcheck": "false"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["type"].queryset = IncidentType.objects.order_by("position", "name")
        self.fields["type"].error_messages["required"] = "Choose the type of incident."
        self.fields["service"].queryset = Service.objects.order_by("name")
        self.fields["service"].empty_label = "Choose the affected service…"
        self.fields["service"].error_messages["invalid_choice"] = "Choose one of the listed services."
        self.fields["severity"].error_messages["invalid_choice"] = "Choose one of critical, high, medium or low."
        if not self.is_bound and not self.instance.pk:
            self.initial.setdefault("occurred_at", timezone.localtime().replace(second=0, microsecond=0))
        self.fields["title"].widget.attrs.update({"autofocus": True, "maxlength": TITLE_MAX})
        limit_text_fields(self)
        chosen = self.initial.get("type")
        if isinstance(chosen, IncidentType) and not self.is_bound and not self.instance.pk:
            # The type was chosen first (report page, ?type=): its policy fills in the rest.
            self.initial["type"] = chosen.slug
            if chosen.default_severity:
                self.initial.setdefault("severity", chosen.default_severity)
            self.initial["restricted"] = chosen.restricted_by_default

    def clean_title(self) -> str:
        return check_title(self.cleaned_data["title"])

    def clean_occurred_at(self):
        return check_occurred_at(self.cleaned_data["occurred_at"])


class EditIncidentForm(IncidentForm):
    # The version the form was opened at: a stale one is refused (workflow.edit).
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Restricting is its own act, with a reason (the incident page), not an edit.
        del self.fields["restricted"]
        if not self.is_bound and self.instance.pk:
            self.initial["type"] = self.instance.type.slug
        del self.fields["idempotency_token"]  # an edit is guarded by its version instead
        if not self.is_bound:
            self.initial["version"] = self.instance.version

    def clean_occurred_at(self):
        value = super().clean_occurred_at()
        # The form shows minutes; an untouched field must not "change" the stored seconds.
        stored = self.instance.occurred_at
        if stored and value == stored.replace(second=0, microsecond=0):
            return stored
        return value


class NoteForm(IdempotentForm, forms.Form):
    idempotency_token = IdempotencyTokenField()
    text = forms.CharField(
        label="Add a note",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Findings, actions taken… (Markdown)"}),
        max_length=20000,
    )


class ResolveForm(forms.Form):
    summary = forms.CharField(
        label="Resolution summary",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What fixed it, or what workaround is in place.",
        max_length=RESOLUTION_MAX,
    )
    confirmed = forms.BooleanField(
        label="I confirm the application works as expected and users are no longer affected.",
        error_messages={"required": "Confirm that users are no longer affected before resolving."},
    )


class StatusUpdateForm(IdempotentForm, forms.Form):
    """A status update, from the incident page or the API (the same limits for both)."""

    idempotency_token = IdempotencyTokenField()
    message = forms.CharField(
        label="Status update",
        max_length=UPDATE_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What do users need to know now?"}),
    )
    public = forms.BooleanField(
        required=False,
        label="Public: for affected users and outside stakeholders (no internal details, no names)",
    )
    # The update template it started from (incidents/update_templates.py); set by the page.
    phase = forms.CharField(required=False, max_length=60, widget=forms.HiddenInput)

    def clean_phase(self) -> str:
        phase = self.cleaned_data["phase"].strip()
        if phase and not UpdateTemplate.objects.filter(name=phase).exists():
            raise forms.ValidationError(f"There is no update template “{phase}”; pick one of the listed phases.")
        return phase


class ReferenceField(forms.CharField):
    """An incident's reference as people type it ("INC-42", "inc42", "42"), cleaned to "INC-42"."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 30)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "INC-42", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        match = REF_RE.match(value)
        if not match:
            raise forms.ValidationError("Give an incident's reference, like INC-42.")
        return f"INC-{int(match.group(1))}"


class LinkForm(forms.Form):
    """Link this incident to another (incidents/links.py); the view finds the other among the
    incidents the person may see."""

    kind = forms.ChoiceField(label="This incident is", choices=IncidentLink.Kind.choices)
    other = ReferenceField(label="Incident", help_text="Its reference, e.g. INC-42.")


class DuplicateForm(forms.Form):
    """Close this incident into another (workflow.mark_duplicate); the view finds the other among
    the incidents the person may see."""

    primary = ReferenceField(
        label="Duplicate of", help_text="The incident about the same outage, e.g. INC-42. This one closes into it."
    )
    reason = forms.CharField(label="Why (optional)", required=False, max_length=2000)


class UndoDuplicateForm(forms.Form):
    reason = forms.CharField(label="Why is it not a duplicate?", max_length=2000)


class ReopenForm(forms.Form):
    reason = forms.CharField(label="Why reopen?", max_length=2000)


DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class ImpactForm(forms.Form):
    """Correct an incident's user-impact window (its error-budget burn); empty bounds fall back to
    the start time and the mitigation (workflow.adjust_impact)."""

    started_at = forms.DateTimeField(
        label="Users affected from",
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=DATETIME_FORMATS,
        help_text="In your time zone. Empty: the incident's start time.",
        error_messages={"invalid": "Enter a date and time like 2026-11-27 14:05."},
    )
    ended_at = forms.DateTimeField(
        label="Users affected until",
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=DATETIME_FORMATS,
        help_text="Empty: when the incident was mitigated.",
        error_messages={"invalid": "Enter a date and time like 2026-11-27 14:05."},
    )
    reason = forms.CharField(label="Why change it?", max_length=2000)

    def clean_started_at(self):
        value = self.cleaned_data["started_at"]
        return check_occurred_at(value) if value else value

    def clean_ended_at(self):
        value = self.cleaned_data["ended_at"]
        if value and value > timezone.now() + FUTURE_TOLERANCE:
            raise forms.ValidationError("The end cannot lie in the future.")
        return value

    def clean(self):
        data = super().clean()
        started, ended = data.get("started_at"), data.get("ended_at")
        if started and ended and ended <= started:
            self.add_error("ended_at", "The impact must end after it starts.")
        return data


class ReactivateForm(forms.Form):
    reason = forms.CharField(label="What shows the mitigation did not hold?", max_length=2000)


class MitigateForm(forms.Form):
    text = forms.CharField(label="What was done (optional)", required=False, max_length=20000)


class FastSelect(forms.Select):
    """forms.Select that writes its options in Python instead of one template include per option.

    Same HTML as Django's select.html and select_option.html (incidents/tests/test_list.py
    compares the two), several times faster: one template include per option was a large share
    of the incident list's time. Option groups fall back to Django's rendering.
    """

    def render(self, name, value, attrs=None, renderer=None):
        # Not list(): it asks a ModelChoiceIterator its len() first, a COUNT query of its own.
        choices = [choice for choice in self.choices]  # noqa: C416
        if any(isinstance(label, list | tuple) for _, label in choices):
            return super().render(name, value, attrs, renderer)
        wanted = {str(v) for v in self.format_value(value)}
        options, found = [], False
        for option_value, label in choices:
            text = "" if option_value is None else str(option_value)
            selected = not found and text in wanted
            found = found or selected
            options.append((text, " selected" if selected else "", label))
        attributes = widget_attrs(self.build_attrs(self.attrs, attrs))
        body = format_html_join("", '\n  <option value="{}"{}>{}</option>\n', options)
        return format_html('<select name="{}"{}>{}\n</select>', name, attributes, body)


class SeverityForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices, widget=FastSelect)
    reason = forms.CharField(required=False, max_length=2000)


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return display_name(user)


class RestrictForm(forms.Form):
    reason = forms.CharField(label="Why restrict it?", max_length=2000)


class LiftRestrictionForm(forms.Form):
    reason = forms.CharField(label="Why lift the restriction?", max_length=2000)


class ParticipantForm(forms.Form):
    """Add (or remove) a person by name: their username."""

    username = forms.CharField(label="Add a person (username)", max_length=150)
    remove = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username__iexact=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is nobody with the username “{username}”.")
        return user


class LeadForm(forms.Form):
    lead = PersonChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="Nobody",
        label="Engineer in charge",
        widget=FastSelect,
        error_messages={"invalid_choice": "Choose one of the listed responders."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        lead = self.fields["lead"]
        if self.is_bound:
            # What a submitted lead is checked against; building it was a millisecond of every
            # incident page, which only draws the select.
            lead.queryset = responders()
        lead.widget.choices = lambda: [("", lead.empty_label), *responder_choices()]  # what the select shows


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    """Read from disk once, the first time a profile form is shown."""
    return [("", "The site's time zone")] + [(zone, zone) for zone in sorted(zoneinfo.available_timezones())]


class ProfileForm(forms.Form):
    time_zone = forms.ChoiceField(
        required=False, choices=time_zone_choices, help_text="Times are shown, and typed, in this time zone."
    )
    email_notifications = forms.BooleanField(required=False, label="Send me email notifications")
    slack_member_id = forms.RegexField(
        regex=r"^[UW][A-Z0-9]{2,30}$",
        required=False,
        strip=True,
        label="Slack member ID",
        help_text="Pages reach you in Slack too, and Beacon's Slack buttons and /incident act as you. "
        "In Slack: your profile → ⋮ → Copy member ID (like U024BE7LH).",
        error_messages={
            "invalid": "A Slack member ID looks like U024BE7LH: a U or W, then capital letters and digits."
        },
    )
    theme = forms.ChoiceField(
        label="Colour scheme",
        choices=Profile.Theme.choices,
        required=False,  # left out (an older form, a script): the current choice stays
        widget=forms.RadioSelect,
        help_text="Auto follows your device's light or dark setting.",
    )
