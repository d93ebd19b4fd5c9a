from django.conf import settings
from django.db import models
from django.utils.timezone import now

from incidents.models.core import Incident, Service


class UserReport(models.Model):
    """A problem reported by a user of the service on the public status page ("Report a
    problem"), without an account. It never opens an incident by itself: it waits in the triage
    queue (incidents/user_reports.py) until a responder opens an incident from it or attaches it
    to an open one, or dismisses it. Nothing a user typed is ever shown publicly."""

    class State(models.TextChoices):
        NEW = "new", "New"
        ATTACHED = "attached", "Attached to an incident"
        DISMISSED = "dismissed", "Dismissed"

    what = models.TextField("what is wrong", max_length=2000)
    since = models.CharField("since when", max_length=100, blank=True)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # For updates on the incident it joins: used only once confirmed by the emailed link.
    email = models.EmailField(blank=True)
    email_confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False, db_index=True)
    state = models.CharField(max_length=10, choices=State, default=State.NEW)
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="user_reports"
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "-created_at"], name="userreport_queue")]

    def __str__(self) -> str:
        return f"User report {self.pk} ({self.get_state_display().lower()})"
