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
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # An incident's updates, and "last public update N minutes ago" (incident page, status page).
            models.Index(fields=["incident", "public", "created_at"], name="update_incident_public"),
        ]

    def __str__(self) -> str:
        return f"{'Public' if self.public else 'Internal'} update on INC-{self.incident_id}"
