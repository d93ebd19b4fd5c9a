"""Forms for reviews, action items and runbooks. They validate; the views call reviews.lifecycle."""

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator, URLValidator
from django.utils.timezone import localdate

from incidents.models import REF_RE
from incidents.people import display_name
from reviews.models import SECTION_FIELDS, ActionItem, Review

DAMAGED = "This form is damaged or out of date (a hidden field is wrong). Open the page again."


def _check_hidden(form: forms.Form, name: str):
    # A hidden field's own error would be invisible; say it where the user sees it.
    if form.has_error(name):
        raise forms.ValidationError(DAMAGED)
    return form.cleaned_data


# Bounds on what one request may store: generous for writing, small enough to keep pages fast.
SECTION_MAX = 50_000
RUNBOOK_MAX = 100_000
REASON_MAX = 1_000
PUBLIC_SUMMARY_MAX = 3_000


class ReviewForm(forms.ModelForm):
    # The version the form was opened at; a stale one is refused (lifecycle.edit).
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta:
        model = Review
        fields = SECTION_FIELDS
        widgets = {name: forms.Textarea(attrs={"rows": 6}) for name in SECTION_FIELDS}
        help_texts = {
            "summary": "What happened, in a few sentences. Markdown.",
            "root_cause": "Why it happened. Required before the review is submitted.",
            "lessons_learned": "What the team takes away from it.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECTION_FIELDS:
            self.fields[name].validators.append(MaxLengthValidator(SECTION_MAX))
        self.fields["timeline"].widget.attrs["rows"] = 12
        if not self.is_bound:
            self.initial["version"] = self.instance.version
        # The sections the incident's type requires (e.g. "Data exposure"), after the usual ones:
        # `type_<name>`; the review cannot be published while one is empty (reviews/lifecycle.py).
        self.required_sections = self.instance.required_sections() if self.instance.pk else []
        for section in self.required_sections:
            name = f"type_{section['name']}"
            self.fields[name] = forms.CharField(
                label=section["title"],
                required=False,
                help_text=" ".join(filter(None, [section["guidance"], "Required before the review is published."])),
                widget=forms.Textarea(attrs={"rows": 4}),
                validators=[MaxLengthValidator(SECTION_MAX)],
            )
            self.initial.setdefault(name, section["text"])

    def type_sections(self) -> dict[str, str]:
        """The cleaned texts of the type's sections, by section name."""
        return {s["name"]: self.cleaned_data.get(f"type_{s['name']}", "") for s in self.required_sections}

    def clean(self):
        return _check_hidden(self, "version")


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded on the incident."
    )


class PublicSummaryForm(forms.Form):
    text = forms.CharField(
        label="Public summary",
        required=False,
        max_length=PUBLIC_SUMMARY_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="A short post-mortem for affected users, shown on the status page. Empty withdraws it. "
        "Never paste internal details here.",
    )


def owner_choices():
    # Anyone with a role may own an item; accounts without one (or disabled) may not.
    return get_user_model().objects.filter(is_active=True, groups__isnull=False).distinct().order_by("username")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return display_name(user)


class ActionItemForm(forms.ModelForm):
    owner = UserChoiceField(queryset=None, error_messages={"invalid_choice": "Choose one of the listed people."})
    due_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: 4 weeks from today for high priority, 8 weeks otherwise.",
        error_messages={"invalid": "Enter a date like 2026-12-31."},
    )
    tracker_url = forms.URLField(
        label="Link to an outside tracker",
        required=False,
        max_length=500,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Optional, e.g. the Jira or GitHub issue.",
    )

    class Meta:
        model = ActionItem
        fields = ["title", "owner", "type", "priority", "due_date", "tracker_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owner_choices()
        self.fields["title"].widget.attrs["maxlength"] = 200

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError("Say what needs doing.")
        return title

    def clean_due_date(self):
        due = self.cleaned_data["due_date"]
        initial = self.instance.due_date if self.instance.pk else None
        # An existing item may keep a date that has since passed; a new date must not lie in the past.
        if due is not None and due < localdate() and due != initial:
            raise forms.ValidationError("The due date cannot lie in the past.")
        return due


class ActionItemStateForm(forms.Form):
    state = forms.ChoiceField(choices=ActionItem.State.choices)
    reason = forms.CharField(max_length=REASON_MAX, required=False, widget=forms.TextInput)

    def clean(self):
        data = super().clean()
        if data.get("state") == ActionItem.State.WONT_DO and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why this action item will not be done.")
        return data


class RunbookForm(forms.Form):
    text = forms.CharField(
        label="Runbook",
        required=False,
        max_length=RUNBOOK_MAX,
        widget=forms.Textarea(attrs={"rows": 20, "class": "font-monospace"}),
        help_text="Markdown: how to diagnose and fix this service.",
    )
    comment = forms.CharField(label="What changed", max_length=200, required=False)
    review = forms.CharField(
        label="Because of the review of",
        max_length=30,
        required=False,
        help_text="An incident reference like INC-42, when this change comes out of its review.",
    )
    # The newest revision when the form was opened (0: none yet); a stale one is refused.
    base_revision = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Whose reviews may be named: a restricted one the user may not see "does not exist".
        self.user = user

    def clean(self):
        return _check_hidden(self, "base_revision")

    def clean_review(self) -> Review | None:
        ref = self.cleaned_data["review"].strip()
        if not ref:
            return None
        match = REF_RE.match(ref)
        reviews = Review.objects.visible_to(self.user)
        review = reviews.filter(incident_id=int(match.group(1))).first() if match else None
        if review is None:
            raise forms.ValidationError(f"There is no review of {ref}.")
        return review
