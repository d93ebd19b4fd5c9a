"""The custom fields of an incident type: one form for every way a value comes in.

The report and edit pages show `CustomFieldsForm`; the API (`from_json`) and the Alertmanager
intake (`from_labels`) put what they received through the same form, so the three never
disagree about what a valid value is. Values are stored on the incident
(`Incident.custom_fields`), as JSON:

| kind   | stored as                      | the API sends and gets |
| ------ | ------------------------------ | ---------------------- |
| text   | a string                       | a string               |
| number | a number (an integer if whole) | a number               |
| choice | one of the choices, as written | the choice             |
| date   | "YYYY-MM-DD"                   | "YYYY-MM-DD"           |
| user   | the user's id                  | the username           |

An unset field is absent from the object. Values are incident text: whoever may not see the
incident (need-to-know, incidents/access.py) sees none of them, and no public surface shows them.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator

from incidents import reference
from incidents.models import CustomField, IncidentType
from incidents.people import display_name

Kind = CustomField.Kind

TEXT_MAX = 2_000
PREFIX = "fields"
NOT_SET = "Not set"


def definitions(incident_type: IncidentType | None) -> list[CustomField]:
    """The type's fields, in order (one query; none in an alert delivery that kept them)."""
    if incident_type is None:
        return []
    # Kept per process for alert deliveries (incidents/reference.py); read each time elsewhere.
    return reference.kept(
        ("fields", incident_type.pk),
        lambda: list(CustomField.objects.filter(type=incident_type).order_by("position", "pk")),
    )


def people():
    """Who a person field may name: active users with a role (as for action item owners)."""
    return get_user_model().objects.filter(is_active=True, groups__isnull=False).distinct().order_by("username")


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return f"{display_name(user)} ({user.get_username()})"


def form_field(definition: CustomField, user_choices: list | None = None) -> forms.Field:
    """The Django form field for one definition, with its label, help text and required flag."""
    common: dict[str, Any] = {
        "label": definition.label,
        "help_text": definition.help_text,
        "required": definition.required,
    }
    kind = definition.kind
    if kind == Kind.NUMBER:
        return forms.DecimalField(
            max_digits=18,
            decimal_places=6,
            error_messages={"invalid": "Enter a number, like 42 or 3.5."},
            **common,
        )
    if kind == Kind.CHOICE:
        choices = [(c, c) for c in definition.choice_list]
        return forms.ChoiceField(
            choices=([] if definition.required else [("", "Not set")]) + choices,
            widget=forms.RadioSelect,
            error_messages={
                # Django %-formats this with the value: a choice like "100%" must stay literal.
                "invalid_choice": f"Choose one of: {', '.join(definition.choice_list)}.".replace("%", "%%"),
                "required": "Choose one.",
            },
            **common,
        )
    if kind == Kind.DATE:
        return forms.DateField(
            input_formats=["%Y-%m-%d"],
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            error_messages={"invalid": "Enter a date like 2026-12-31."},
            **common,
        )
    if kind == Kind.USER:
        field = PersonField(
            queryset=people(),
            to_field_name="username",
            empty_label="Nobody",
            error_messages={"invalid_choice": "There is no Beacon user with this username."},
            **common,
        )
        if user_choices is not None:
            # The people are read once per form, not once per person field.
            field.choices = user_choices
        return field
    return forms.CharField(
        max_length=TEXT_MAX, validators=[MaxLengthValidator(TEXT_MAX)], widget=forms.TextInput, **common
    )


def to_json(definition: CustomField, value) -> Any:
    """A cleaned form value as stored; None for "not set"."""
    if value in (None, ""):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    if definition.kind == Kind.USER:
        return value.pk
    return value


class CustomFieldsForm(forms.Form):
    """The fields of one type, named `fields-<name>` in a page's form."""

    prefix = PREFIX

    def __init__(self, *args, incident_type: IncidentType | None, values: dict | None = None, **kwargs):
        self.incident_type = incident_type
        self.definitions = kwargs.pop("definitions", None)
        if self.definitions is None:
            self.definitions = definitions(incident_type)
        super().__init__(*args, **kwargs)
        values = values or {}
        user_choices = None
        usernames: dict[int, str] = {}
        if any(d.kind == Kind.USER for d in self.definitions):
            user_choices = [("", "Nobody")] + [
                (u.get_username(), f"{display_name(u)} ({u.get_username()})") for u in people()
            ]
            ids = [values.get(d.name) for d in self.definitions if d.kind == Kind.USER]
            usernames = dict(
                get_user_model()
                .objects.filter(pk__in=[i for i in ids if isinstance(i, int)])
                .values_list("pk", "username")
            )
        for definition in self.definitions:
            self.fields[definition.name] = form_field(definition, user_choices)
            if definition.name in values:
                stored = values[definition.name]
                self.initial[definition.name] = usernames.get(stored) if definition.kind == Kind.USER else stored

    def values(self) -> dict:
        """The cleaned values as stored: set ones only."""
        found = {}
        for definition in self.definitions:
            value = to_json(definition, self.cleaned_data.get(definition.name))
            if value is not None:
                found[definition.name] = value
        return found

    def field_errors(self) -> list[tuple[str, str]]:
        """[(name, message)] for the API and the intake."""
        return [(name, str(message)) for name, messages in self.errors.items() for message in messages]


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_input(definition: CustomField, value) -> tuple[str | None, str | None]:
    """A JSON value as form input, or an error naming what kind of value was expected."""
    kind = definition.kind
    if value is None:
        return "", None
    if kind == Kind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None, "Enter a number, like 42 or 3.5."
        return str(value), None
    if isinstance(value, str) and ("\x00" in value or not _encodable(value)):
        return None, "Contains a character Beacon cannot store (a null character or an unpaired surrogate)."
    if not isinstance(value, str):
        expected: dict[str, str] = {
            Kind.TEXT: "Enter text (a JSON string).",
            Kind.CHOICE: f"Choose one of: {', '.join(definition.choice_list)}.",
            Kind.DATE: "Enter a date like 2026-12-31 (a JSON string).",
            Kind.USER: "Enter a Beacon username (a JSON string).",
        }
        return None, expected[kind]
    if kind == Kind.CHOICE:
        # "YES" names the choice "yes": the canonical spelling is stored.
        canonical = {c.lower(): c for c in definition.choice_list}
        return canonical.get(value.strip().lower(), value), None
    return value, None


def from_json(incident_type: IncidentType, given: dict, *, defs: list[CustomField] | None = None):
    """Validate `{name: value}` from the API for `incident_type`: (values to store, [(name, message)]).

    Unknown names, values of the wrong kind, unknown choices, dates or users, and missing
    required fields are each an error naming the field."""
    defs = definitions(incident_type) if defs is None else defs
    by_name = {d.name: d for d in defs}
    errors = []
    data = {}
    for name, value in given.items():
        definition = by_name.get(name)
        if definition is None:
            known = ", ".join(by_name) or "none"
            errors.append((name, f"Unknown field for the type {incident_type.slug} (its fields: {known})."))
            continue
        text, problem = _as_input(definition, value)
        if problem:
            errors.append((name, problem))
        else:
            data[f"{PREFIX}-{name}"] = text
    form = CustomFieldsForm(data, incident_type=incident_type, definitions=defs)
    valid = form.is_valid()
    failed = {name for name, _ in errors}
    errors += [(name, message) for name, message in form.field_errors() if name not in failed]
    return (form.values() if valid and not errors else {}), errors


def from_labels(incident_type: IncidentType, labels: dict[str, str]):
    """The type's fields found among alert labels and annotations of the same name.

    Never refuses: a valid value is stored, an invalid one is left out and reported, so that
    the alert still opens its incident. Returns (values, [(name, value, message)])."""
    defs = definitions(incident_type)
    values, problems = {}, []
    for definition in defs:
        if definition.name not in labels:
            continue
        raw = labels[definition.name]
        one = CustomFieldsForm(
            {f"{PREFIX}-{definition.name}": _as_input(definition, raw)[0] or ""},
            incident_type=incident_type,
            definitions=[definition],
        )
        if one.is_valid():
            values.update(one.values())
        else:
            problems.append((definition.name, raw, "; ".join(m for _, m in one.field_errors())))
    return values, problems


def shown(definition: CustomField, value, names: dict[int, str]) -> str:
    if value is None or value == "":
        return NOT_SET
    if definition.kind == Kind.USER:
        return names.get(value, "a removed user")
    return str(value)


def _names(defs: list[CustomField], *value_dicts: dict) -> dict[int, str]:
    ids: set[int] = {
        v[d.name] for v in value_dicts for d in defs if d.kind == Kind.USER and isinstance(v.get(d.name), int)
    }
    if not ids:
        return {}
    return {user.pk: display_name(user) for user in get_user_model().objects.filter(pk__in=ids)}


def display(incident_type: IncidentType, values: dict, defs: list[CustomField] | None = None) -> list[dict]:
    """[{name, label, kind, text, set}] for every field of the type, in order (two queries at most)."""
    defs = definitions(incident_type) if defs is None else defs
    names = _names(defs, values)
    return [
        {
            "name": d.name,
            "label": d.label,
            "kind": d.kind,
            "text": shown(d, values.get(d.name), names),
            "set": values.get(d.name) not in (None, ""),
        }
        for d in defs
    ]


def api_values(incident_type: IncidentType, values: dict) -> dict:
    """The values as the API returns them: people by username."""
    defs = definitions(incident_type)
    ids = [values.get(d.name) for d in defs if d.kind == Kind.USER]
    usernames = {}
    if any(isinstance(i, int) for i in ids):
        usernames = dict(
            get_user_model().objects.filter(pk__in=[i for i in ids if isinstance(i, int)]).values_list("pk", "username")
        )
    out = {}
    for d in defs:
        if d.name in values:
            out[d.name] = usernames.get(values[d.name]) if d.kind == Kind.USER else values[d.name]
    return out


def changes(old_type: IncidentType, new_type: IncidentType, old: dict, new: dict) -> dict[str, list]:
    """What an edit changed, {label: [before, after]} as people read them, for the timeline."""
    defs = {d.name: d for d in definitions(old_type)}
    if new_type.pk != old_type.pk:
        defs.update({d.name: d for d in definitions(new_type)})
    names = _names(list(defs.values()), old, new)
    diff = {}
    for name in sorted(set(old) | set(new), key=lambda n: (defs[n].position, defs[n].pk) if n in defs else (0, 0)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        definition = defs.get(name)
        if definition is None:
            label, before_text, after_text = name, NOT_SET if before is None else str(before), NOT_SET
        else:
            label = definition.label
            before_text, after_text = shown(definition, before, names), shown(definition, after, names)
        diff[label] = [before_text, after_text]
    return diff
