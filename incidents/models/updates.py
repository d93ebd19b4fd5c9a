from django.conf import settings
from django.db import models
from django.utils.timezone import now

from incidents.models.core import Incident


class StatusUpdate(models.Model):
    """A message about an incident's progress: public (affected users, outside stakeholders) or internal."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField()
    public = models.BooleanField(
        default=False, help_text="Public updates reach the status page and outside stakeholders."
    )
    # The update template's name it started from (Investigating, Identified…): shown with the
    # update, and how the next phase is suggested.
    phase = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # An incident's updates, and "last public update N minutes ago" (incident page, status page).
            models.Index(fields=["incident", "public", "created_at"], name="update_incident_public"),
        ]

    def __str__(self) -> str:
        return f"{'Public' if self.public else 'Internal'} update on INC-{self.incident_id}"


class UpdateTemplate(models.Model):
    """A ready-made status update ("Investigating", "Identified"…), one per phase of the
    response, in order: the incident page offers them and suggests the phase after the last one
    used. Managers keep them in the admin; `{service}`, `{reference}`, `{title}` and `{started}`
    are filled in from the incident (incidents/update_templates.py)."""

    name = models.CharField(max_length=60, unique=True, help_text="The phase it announces, e.g. Identified.")
    message = models.TextField(
        max_length=5000,
        help_text="Placeholders: {service}, {reference}, {title}, {started} (when the incident began).",
    )
    public = models.BooleanField(default=True, help_text="Posted as a public update unless the responder unticks it.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Phases are offered in this order.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


# What migration 0016_update_templates ships (with its own frozen copy), and what
# `ensure_shipped_update_templates` puts back into a database emptied by a flush (tests, a restore).
SHIPPED_UPDATE_TEMPLATES = [
    {
        "name": "Investigating",
        "position": 10,
        "public": True,
        "message": "We are investigating a problem with {service}. "
        "We will post another update as soon as we know more.",
    },
    {
        "name": "Identified",
        "position": 20,
        "public": True,
        "message": "We have found the cause of the problem with {service} and are working on a fix.",
    },
    {
        "name": "Monitoring",
        "position": 30,
        "public": True,
        "message": "A fix for the problem with {service} is in place. We are watching to make sure it holds.",
    },
    {
        "name": "Resolved",
        "position": 40,
        "public": True,
        "message": "The problem with {service} that began at {started} is resolved. Thank you for your patience.",
    },
]


def ensure_shipped_update_templates(sender=None, **kwargs) -> None:
    """After every migrate: in a database with no update template and no status update (a fresh
    or flushed one), create the shipped ones. A database in use keeps what its managers made."""
    if UpdateTemplate.objects.exists() or StatusUpdate.objects.exists():
        return
    UpdateTemplate.objects.bulk_create(UpdateTemplate(**values) for values in SHIPPED_UPDATE_TEMPLATES)
