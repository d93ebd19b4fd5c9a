"""What a type asks for beyond the report: its custom fields and the review sections it requires.

Managers define both in the admin, on the incident type's page. The values of an incident's
custom fields live on the incident itself (`Incident.custom_fields`, a JSON object keyed by the
field's `name`), validated by `incidents/typefields.py`; docs/incident-types.md says why.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from incidents.models.core import IncidentType

# A field's name is how the API (`fields: {name: value}`) and Alertmanager labels and
# annotations name it, so it must be a valid Prometheus label name too.
NAME_RE = r"^[a-z][a-z0-9_]{0,49}$"
name_validator = RegexValidator(
    NAME_RE, "Use lower-case letters, digits and underscores, starting with a letter (e.g. data_affected)."
)

# Bounds an admin cannot exceed: pages that show a type's fields stay small.
FIELDS_PER_TYPE = 20
CHOICES_PER_FIELD = 50
CHOICE_MAX = 100


def machine_name(label: str) -> str:
    """ "Data affected?" → "data_affected"."""
    name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"f_{name}".rstrip("_")
    return name[:50]


class CustomField(models.Model):
    """One extra field an incident type asks for (e.g. Security incident: "Data affected?")."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        CHOICE = "choice", "Choice"
        DATE = "date", "Date"
        USER = "user", "Person (a Beacon user)"

    type = models.ForeignKey(IncidentType, on_delete=models.CASCADE, related_name="custom_fields")
    label = models.CharField(max_length=100, help_text="The question on the report form, e.g. “Data affected?”.")
    name = models.CharField(
        max_length=50,
        blank=True,
        validators=[name_validator],
        help_text="How the API and Alertmanager labels or annotations name it (e.g. data_affected). "
        "Empty: made from the label. Renaming it leaves values stored under the old name unshown.",
    )
    kind = models.CharField(max_length=8, choices=Kind, default=Kind.TEXT)
    help_text = models.CharField(max_length=300, blank=True, help_text="Shown under the field.")
    required = models.BooleanField(default=False, help_text="The report form and the API refuse a report without it.")
    choices = models.TextField(blank=True, help_text="For a choice field: one choice per line (e.g. yes, no, unknown).")
    position = models.PositiveSmallIntegerField(default=100, help_text="Order on the form (smallest first).")

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["type", "name"], name="customfield_unique_name"),
            models.CheckConstraint(
                condition=models.Q(kind__in=["text", "number", "choice", "date", "user"]), name="customfield_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.label}"

    def save(self, *args, **kwargs):
        if not self.name:
            self.name = machine_name(self.label)
        super().save(*args, **kwargs)

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]

    def clean(self):
        if not self.name:
            self.name = machine_name(self.label)
        errors = {}
        choices = self.choice_list
        if self.kind == self.Kind.CHOICE:
            if not choices:
                errors["choices"] = "A choice field needs at least one choice, one per line."
            elif len(choices) > CHOICES_PER_FIELD:
                errors["choices"] = f"At most {CHOICES_PER_FIELD} choices."
            elif len({c.lower() for c in choices}) != len(choices):
                errors["choices"] = "Each choice may appear only once."
            elif any(len(c) > CHOICE_MAX for c in choices):
                errors["choices"] = f"A choice is at most {CHOICE_MAX} characters."
        elif choices:
            errors["choices"] = "Only choice fields have choices: empty this box or make the field a choice."
        if self.type_id and not self.pk:
            if CustomField.objects.filter(type_id=self.type_id).count() >= FIELDS_PER_TYPE:
                errors["label"] = f"A type has at most {FIELDS_PER_TYPE} custom fields."
        if errors:
            raise ValidationError(errors)


class ReviewSection(models.Model):
    """A section the post-incident review of this type's incidents must fill in before it is
    published (e.g. Security incident: "Data exposure", "Disclosure obligations")."""

    type = models.ForeignKey(IncidentType, on_delete=models.CASCADE, related_name="review_sections")
    title = models.CharField(max_length=100)
    name = models.CharField(
        max_length=50,
        blank=True,
        validators=[name_validator],
        help_text="Where the review keeps its text. Empty: made from the title.",
    )
    guidance = models.CharField(max_length=300, blank=True, help_text="What to write, shown under the section.")
    position = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["type", "name"], name="reviewsection_unique_name")]

    def __str__(self) -> str:
        return f"{self.type}: {self.title}"

    def save(self, *args, **kwargs):
        if not self.name:
            self.name = machine_name(self.title)
        super().save(*args, **kwargs)

    def clean(self):
        if not self.name:
            self.name = machine_name(self.title)
