"""The response beyond the lead: named roles (Incident commander, Communications lead, Scribe) and
each incident's task list, copied from its type's checklist when it is reported.

Who may change them, and how, is incidents/workflow.py's (`assign_role`, `add_task`, `tick_task`,
`assign_task`); docs/response.md says what a responder sees.
"""

from django.conf import settings
from django.db import models
from django.utils.text import slugify
from django.utils.timezone import now

from incidents.models.core import Incident, IncidentType

TASK_TITLE_MAX = 200


class ResponseRole(models.Model):
    """A named role on an incident besides its lead. The shipped ones come from migration
    0014_response_roles_checklists; managers rename, add or remove them in the admin."""

    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True, help_text="How the API names the role.")
    description = models.CharField(max_length=300, blank=True, help_text="Shown beside the role on the incident page.")
    position = models.PositiveSmallIntegerField(default=100, help_text="Order on the incident page (smallest first).")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:60]
        super().save(*args, **kwargs)


class RoleAssignment(models.Model):
    """Who holds `role` on `incident` now: at most one person per role. The timeline keeps who
    held it before (entries of kind `role`)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.ForeignKey(ResponseRole, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="response_roles")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["role__position", "role__name"]
        constraints = [models.UniqueConstraint(fields=["incident", "role"], name="roleassignment_one_per_role")]
        # "My roles" on the dashboard.
        indexes = [models.Index(fields=["user", "incident"], name="roleassignment_user")]

    def __str__(self) -> str:
        return f"{self.role} of INC-{self.incident_id}"


class ChecklistItem(models.Model):
    """One step of an incident type's response checklist; copied into each new incident of the
    type as a Task. `required`: the incident cannot be resolved while its task is open."""

    type = models.ForeignKey(IncidentType, on_delete=models.CASCADE, related_name="checklist")
    title = models.CharField(max_length=TASK_TITLE_MAX)
    required = models.BooleanField(
        "required before resolving", default=False, help_text="Resolving is refused while this task is open."
    )
    position = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title


class Task(models.Model):
    """One task of an incident's response: from its type's checklist, or added by a responder."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=TASK_TITLE_MAX)
    required = models.BooleanField("required before resolving", default=False)
    position = models.PositiveIntegerField(default=0)
    # The checklist item it was copied from; None for a task added on the incident.
    item = models.ForeignKey(ChecklistItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["incident", "position"], name="task_incident")]

    def __str__(self) -> str:
        return self.title

    @property
    def done(self) -> bool:
        return self.done_at is not None


# What migration 0014_response_roles_checklists ships (with its own frozen copy), and what
# `ensure_shipped_response` puts back into a database emptied by a flush (tests, a restore).
SHIPPED_ROLES = [
    {
        "slug": "commander",
        "name": "Incident commander",
        "position": 10,
        "description": "Coordinates the response and makes the calls; the lead may hold it too.",
    },
    {
        "slug": "communications",
        "name": "Communications lead",
        "position": 20,
        "description": "Writes the status updates and answers stakeholders.",
    },
    {"slug": "scribe", "name": "Scribe", "position": 30, "description": "Keeps the timeline: notes what is done."},
]

# type slug -> [(title, required)], in order.
SHIPPED_CHECKLISTS: dict[str, list[tuple[str, bool]]] = {
    "downtime": [
        ("Confirm who is affected and how", False),
        ("Post a first status update", False),
        ("Check recent deploys and configuration changes", False),
        ("Confirm recovery on the dashboards", False),
    ],
    "performance": [
        ("Find the slow component", False),
        ("Check recent deploys and traffic", False),
        ("Confirm latency and error rates are back to normal", False),
    ],
    "security": [
        ("Preserve evidence (logs, disk images) before changing systems", True),
        ("Rotate credentials", True),
        ("Assess data exposure", True),
        ("Notify legal", True),
        ("Decide whether customers or regulators must be told", False),
    ],
}


def ship_response(ResponseRole, IncidentType, ChecklistItem) -> None:
    """Create the shipped roles and the checklists of the shipped types that exist (models passed
    in, so the migration can hand in its historical ones)."""
    for values in SHIPPED_ROLES:
        ResponseRole.objects.get_or_create(slug=values["slug"], defaults=values)
    for slug, items in SHIPPED_CHECKLISTS.items():
        incident_type = IncidentType.objects.filter(slug=slug).first()
        if incident_type is None or ChecklistItem.objects.filter(type=incident_type).exists():
            continue
        ChecklistItem.objects.bulk_create(
            ChecklistItem(type=incident_type, title=title, required=required, position=(n + 1) * 10)
            for n, (title, required) in enumerate(items)
        )


def ensure_shipped_response(sender=None, **kwargs) -> None:
    """After every migrate: in a database with no roles, no checklist and no incident (a fresh or
    flushed one), create the shipped ones. A database in use keeps what its managers made of them."""
    if ResponseRole.objects.exists() or ChecklistItem.objects.exists() or Incident.objects.exists():
        return
    ship_response(ResponseRole, IncidentType, ChecklistItem)
    # bulk_create sends no signal: the intake's kept checklists must hear of these (incidents/reference.py).
    from incidents.models.reference import ReferenceGeneration

    ReferenceGeneration.bump()
