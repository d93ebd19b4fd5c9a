from django.db import models
from django.utils.timezone import now

from incidents.models.core import Incident, TimelineEntry


class InboundMail(models.Model):
    """One message the mail intake (incidents/mailin/) received, whatever became of it.

    `key` (the SHA-256 of its sender and Message-ID, or of its bytes without one) is unique: a message
    delivered twice, by a mail server retrying or two servers at once, is acted on once. The row
    is written in the transaction of what the message did (an incident, a note, a refusal).
    """

    class Outcome(models.TextChoices):
        REPORTED = "reported", "Opened an incident"
        NOTED = "noted", "Added a note"
        REFUSED = "refused", "Refused, the sender told why"
        DROPPED = "dropped", "Dropped unanswered (a loop, an auto-reply or a bounce)"

    key = models.CharField(max_length=64, unique=True)
    message_id = models.CharField(max_length=300, blank=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome)
    # Why it was refused or dropped, in the words the sender was told (or the log says).
    reason = models.TextField(blank=True)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entry = models.ForeignKey(TimelineEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=now, editable=False, db_index=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.message_id or self.key[:12]} from {self.sender or '?'}: {self.outcome}"
