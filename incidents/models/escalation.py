"""Escalation policies: who is paged, in which order, after which delays, while an incident
stays unacknowledged (docs/oncall.md, "Escalation").

A policy is an ordered list of steps, run once and then repeated `repeat` more times. Each
service names its policy; services that name none follow the default policy (at most one).
These models only store what a manager typed; `incidents/oncall/paging.py` runs them, reading
the policy each time a step is due, so an edit applies from an incident's next step.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from incidents.models.core import Severity

# More than this is a typing mistake: a ladder of 20 steps repeated 10 times pages for days.
MAX_STEPS = 20
MAX_REPEAT = 10
# A day: a step waiting longer than that is not an escalation any more.
MAX_DELAY_MINUTES = 24 * 60


def validate_severities(value) -> None:
    known = set(Severity.values)
    if not isinstance(value, list) or not all(isinstance(v, str) and v in known for v in value):
        raise ValidationError(f"Choose severities among {', '.join(Severity.values)}.")


class EscalationPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # The team whose managers may edit it (incidents/models/teams.py); none: Beacon's managers only.
    team = models.ForeignKey(
        "incidents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="escalation_policies"
    )
    severities = models.JSONField(
        "severities that escalate",
        default=list,
        blank=True,
        validators=[validate_severities],
        help_text="An unacknowledged incident of another severity pages only its lead.",
    )
    repeat = models.PositiveSmallIntegerField(
        "repeat",
        default=0,
        validators=[MaxValueValidator(MAX_REPEAT)],
        help_text="How many more times the whole list of steps runs after the first time.",
    )
    skip_unreachable = models.BooleanField(
        "skip the wait when nobody could be reached",
        default=True,
        help_text="When nobody in a step has a channel that works, the next step starts at once "
        "instead of after its delay.",
    )
    is_default = models.BooleanField(
        "default policy",
        default=False,
        help_text="Covers every service that names no policy. Exactly one policy is the default.",
    )
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-is_default", "name"]
        verbose_name_plural = "escalation policies"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="policy_one_default"),
            models.CheckConstraint(condition=Q(repeat__lte=MAX_REPEAT), name="policy_repeat_bounded"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.updated_at = now()
        super().save(*args, **kwargs)

    def escalates(self, severity: str) -> bool:
        return str(severity) in self.severities


class EscalationStep(models.Model):
    """One rung of the ladder: after `delay_minutes` (counted from the step before, or from the
    report for the first), page its target."""

    class Target(models.TextChoices):
        ON_CALL = "on_call", "the on-call of a rotation"
        NEXT = "next", "the next in line of a rotation"
        EVERYONE = "everyone", "everyone in a rotation"
        USER = "user", "a person"
        MANAGERS = "managers", "the managers"

    ROTATION_TARGETS = (Target.ON_CALL, Target.NEXT, Target.EVERYONE)

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    # Empty: the severity's delay in ONCALL_ESCALATION_MINUTES (how the default policy made from
    # the settings of earlier releases keeps their timing: 5 min for Critical, 15 for High).
    delay_minutes = models.PositiveIntegerField(
        "delay (minutes)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text="After the step before (the first: after the report). Empty: the severity's delay from the settings.",
    )
    target = models.CharField(max_length=16, choices=Target)
    # For the rotation targets. Empty: the rotation that answers for the incident's service.
    rotation = models.ForeignKey(
        "incidents.Rotation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="escalation_steps",
        help_text="For a rotation target. Empty: the rotation that answers for the incident's service.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="escalation_steps",
        help_text="For “a person”.",
    )

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="escalation_step_position"),
            models.CheckConstraint(
                condition=Q(target__in=["on_call", "next", "everyone", "user", "managers"]), name="escalation_target"
            ),
            models.CheckConstraint(
                condition=(Q(target="user") & Q(user__isnull=False)) | (~Q(target="user") & Q(user__isnull=True)),
                name="escalation_user_only_for_user",
            ),
            models.CheckConstraint(
                condition=Q(target__in=["on_call", "next", "everyone"]) | Q(rotation__isnull=True),
                name="escalation_rotation_only_for_rotations",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position + 1}: {self.describe()}"

    def describe(self) -> str:
        """What the step pages, for people: "the on-call of Checkout primary"."""
        if self.target == self.Target.USER:
            user = self.user
            return (user.get_full_name() or user.get_username()) if user is not None else "nobody"
        if self.target == self.Target.MANAGERS:
            return "the managers"
        rotation = self.rotation.name if self.rotation is not None else "the service's rotation"
        return {
            "on_call": f"the on-call of {rotation}",
            "next": f"the next in line of {rotation}",
            "everyone": f"everyone in {rotation}",
        }[str(self.target)]

    def clean(self) -> None:
        if self.target == self.Target.USER and not self.user_id:
            raise ValidationError({"user": "Choose the person this step pages."})
        if self.target != self.Target.USER:
            self.user = None
        if self.target not in self.ROTATION_TARGETS:
            self.rotation = None


def ship_default_policy(EscalationPolicy, EscalationStep) -> None:
    """The one global ladder of earlier releases as the default policy, so nothing changes on
    upgrade: the severities with a delay in ONCALL_ESCALATION_MINUTES escalate, first to the next
    in line of the service's rotation, then to the managers, each after the severity's delay (the
    steps' delay is left empty: read from that setting when a step is due), repeated until
    ONCALL_ESCALATION_STEPS steps have run (rounded up to a whole repeat).

    Takes the model classes: the data migration passes its historical ones."""
    if EscalationPolicy.objects.filter(is_default=True).exists():
        return
    minutes = getattr(settings, "ONCALL_ESCALATION_MINUTES", {})
    limit = max(int(getattr(settings, "ONCALL_ESCALATION_STEPS", 0) or 0), 0)
    severities = [s for s in Severity.values if minutes.get(s)] if limit else []
    targets = ["next", "managers"][: max(min(limit, 2), 1)]
    repeat = min(max(-(-limit // len(targets)) - 1, 0), MAX_REPEAT)
    policy = EscalationPolicy.objects.create(
        name="Default",
        description="Made from the escalation settings: the next in line, then the managers.",
        severities=severities,
        repeat=repeat,
        is_default=True,
    )
    for position, target in enumerate(targets):
        EscalationStep.objects.create(policy=policy, position=position, target=target)


def ensure_default_policy(sender=None, **kwargs) -> None:
    """After every migrate: a database without any policy (a fresh or flushed one) gets the
    default made from the settings. A database in use keeps what its managers made."""
    if not EscalationPolicy.objects.exists():
        ship_default_policy(EscalationPolicy, EscalationStep)
