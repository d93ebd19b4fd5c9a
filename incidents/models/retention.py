"""Data retention: how long closed incidents, delivery ledgers and task rows are kept
(incidents/retention.py applies it; docs/retention.md)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.timezone import now


class RetentionPolicy(models.Model):
    """The one retention policy (pk 1), set by managers on /retention/.

    Empty years or days mean "keep for ever": a fresh install removes nothing until a manager
    decides. Every change is in the audit log (incidents/audit.py).
    """

    class Action(models.TextChoices):
        ANONYMISE = "anonymise", "Anonymise (keep the counts for reports)"
        PURGE = "purge", "Purge (delete the incident and everything of it)"

    incident_years = models.PositiveSmallIntegerField(
        "closed incidents: keep for (years)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Years after an incident was closed. Empty: kept for ever. Open incidents are never touched.",
    )
    restricted_years = models.PositiveSmallIntegerField(
        "restricted incidents: keep for (years)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Their own retention (need-to-know incidents). Empty: as other incidents.",
    )
    action = models.CharField(
        "then", max_length=10, choices=Action, default=Action.ANONYMISE, help_text="What happens to them."
    )
    keep_reviews = models.BooleanField(
        "keep their reviews",
        default=True,
        help_text="Kept: an incident with a review is anonymised, never purged, so its review stays. "
        "Not kept: the review goes with it.",
    )
    delivery_days = models.PositiveIntegerField(
        "delivery ledger: keep for (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(36500)],
        help_text="Sent and failed notifications (emails, Slack, webhooks). Empty: kept for ever.",
    )
    task_days = models.PositiveIntegerField(
        "finished task rows: keep for (days)",
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(36500)],
        help_text="The background worker's finished and failed task rows.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policy"

    def __str__(self) -> str:
        return "Retention policy"

    @classmethod
    def current(cls) -> "RetentionPolicy":
        """The policy in force (unsaved defaults before a manager first saves one)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class RetentionRun(models.Model):
    """One real run of the retention policy: what it removed, for the page and the audit log."""

    started_at = models.DateTimeField(default=now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What the run touched, {kind: count} (incidents/retention.py KINDS).
    counts = models.JSONField(default=dict, blank=True)
    # "command", "sweeper" or a user name.
    trigger = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"Retention run {self.started_at:%Y-%m-%d %H:%M}"
