"""Post-incident reviews, their action items, and runbook revisions.

Every write goes through `reviews/lifecycle.py`; these classes only describe the data
and give it a vocabulary (querysets, small properties).
"""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.timezone import localdate, now

from incidents.models import Incident, ReviewSection, Service, access_condition

# The written sections of a review, in the order the page and the Markdown export show them.
SECTIONS = [
    ("summary", "Summary"),
    ("impact", "Impact"),
    ("timeline", "Timeline"),
    ("root_cause", "Root cause"),
    ("contributing_factors", "Contributing factors"),
    ("went_well", "What went well"),
    ("went_badly", "What went badly"),
    ("lucky", "Where we got lucky"),
    ("lessons_learned", "Lessons learned"),
]
SECTION_FIELDS = [name for name, _ in SECTIONS]


class ReviewQuerySet(models.QuerySet):
    def for_list(self):
        # The list shows the root cause only: the other sections (up to 50,000 characters each) stay in the database.
        unshown = [name for name in SECTION_FIELDS if name != "root_cause"]
        return self.select_related("incident", "incident__service").defer(*unshown, "public_summary")

    def published(self):
        return self.filter(state=Review.State.PUBLISHED)

    def visible_to(self, user):
        """Reviews of incidents `user` may see (incidents/access.py: need-to-know)."""
        return self.filter(access_condition(user, "incident__"))


class Review(models.Model):
    """The post-incident review of one incident: draft → in review → published."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        PUBLISHED = "published", "Published"

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    state = models.CharField(max_length=16, choices=State, default=State.DRAFT)

    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    timeline = models.TextField(blank=True, help_text="Drafted from the incident's timeline; edit freely.")
    root_cause = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    went_well = models.TextField("what went well", blank=True)
    went_badly = models.TextField("what went badly", blank=True)
    lucky = models.TextField("where we got lucky", blank=True)
    lessons_learned = models.TextField(blank=True)

    # The texts of the sections the incident's type requires ({ReviewSection.name: text}):
    # publishing waits until each is written (reviews/lifecycle.py).
    type_sections = models.JSONField(default=dict, blank=True)

    # Everyone who started, edited or submitted it; shown on the review.
    authors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="authored_reviews", blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    # A short post-mortem for affected users: the only part of a review that may leave the team.
    public_summary = models.TextField(blank=True)
    public_summary_published_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Lost-update protection: the edit form posts the version it was opened at.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("write_review", "Can start, edit and submit reviews and their action items"),
            ("publish_review", "Can publish reviews, return them to draft and publish public summaries"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["draft", "in_review", "published"]), name="review_state_valid"
            ),
        ]
        indexes = [
            # The reviews list filtered by state, newest first (views.review_list).
            models.Index(fields=["state", "-created_at"], name="review_state_created"),
        ]
        # The full-text GIN index exists on PostgreSQL only: migration 0002 (reviews/search.py).

    def __str__(self) -> str:
        return f"Review of {self.incident.ref}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:detail", kwargs={"ref": self.incident.ref})

    @property
    def is_published(self) -> bool:
        return self.state == Review.State.PUBLISHED

    @property
    def is_editable(self) -> bool:
        return self.state != Review.State.PUBLISHED

    def sections(self) -> list[tuple[str, str, str]]:
        """(field, heading, text) for every section, in order."""
        return [(name, label, getattr(self, name)) for name, label in SECTIONS]

    def required_sections(self) -> list[dict]:
        """The sections the incident's type requires (one query), each with its text so far:
        [{name, title, guidance, text}]."""
        found = ReviewSection.objects.filter(type_id=self.incident.type_id).order_by("position", "pk")
        texts = self.type_sections or {}
        return [
            {"name": s.name, "title": s.title, "guidance": s.guidance, "text": texts.get(s.name, "")} for s in found
        ]

    def empty_required_sections(self) -> list[str]:
        """Titles of the type's required sections not written yet: publishing waits for them."""
        return [s["title"] for s in self.required_sections() if not s["text"].strip()]


class ActionItemQuerySet(models.QuerySet):
    def for_list(self):
        return self.select_related("owner", "review__incident__service")

    def open(self):
        return self.filter(state=ActionItem.State.OPEN)

    def visible_to(self, user):
        """Action items of reviews of incidents `user` may see (incidents/access.py: need-to-know)."""
        return self.filter(access_condition(user, "review__incident__"))

    def overdue(self, today: date | None = None):
        return self.open().filter(due_date__lt=today or localdate())

    def not_overdue(self, today: date | None = None):
        return self.exclude(state=ActionItem.State.OPEN, due_date__lt=today or localdate())


class ActionItem(models.Model):
    """One improvement a review commits to, tracked until done (or explicitly not done)."""

    class Type(models.TextChoices):
        DETECTIVE = "detective", "Detective (find it sooner)"
        PREVENTIVE = "preventive", "Preventive (stop it happening)"
        CORRECTIVE = "corrective", "Corrective (fix what broke)"

    class Priority(models.TextChoices):
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        WONT_DO = "wont_do", "Won't do"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="action_items")
    type = models.CharField(max_length=16, choices=Type)
    priority = models.CharField(max_length=8, choices=Priority, default=Priority.MEDIUM)
    due_date = models.DateField()
    state = models.CharField(max_length=8, choices=State, default=State.OPEN)
    wont_do_reason = models.TextField("reason for not doing it", blank=True)
    tracker_url = models.URLField("link to an outside tracker", blank=True, max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ActionItemQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=["detective", "preventive", "corrective"]), name="action_type"),
            models.CheckConstraint(condition=Q(priority__in=["high", "medium", "low"]), name="action_priority"),
            models.CheckConstraint(condition=Q(state__in=["open", "done", "wont_do"]), name="action_state"),
            # "Won't do" is a decision that needs its reason written down.
            models.CheckConstraint(
                condition=~Q(state="wont_do") | ~Q(wont_do_reason=""), name="action_wont_do_has_reason"
            ),
        ]
        indexes = [
            # "My action items" and the owner filter: a person's open items by due date.
            models.Index(fields=["owner", "state", "due_date"], name="action_owner_state_due"),
            # The overdue filter and the admin's overdue list.
            models.Index(fields=["state", "due_date"], name="action_state_due"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.state == ActionItem.State.OPEN and self.due_date < localdate()


class RunbookRevision(models.Model):
    """One saved version of a service's runbook: who changed it, when, and (maybe) which review led to it."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="runbook_revisions")
    text = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now, editable=False)
    comment = models.CharField("what changed", max_length=200, blank=True)
    review = models.ForeignKey(
        Review,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runbook_revisions",
        help_text="The review this change came out of.",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("edit_runbook", "Can edit service runbooks")]
        indexes = [
            # A service's history, newest first (views.runbook).
            models.Index(fields=["service", "-created_at"], name="runbook_service_created"),
        ]

    def __str__(self) -> str:
        return f"{self.service} runbook, {self.created_at:%Y-%m-%d %H:%M}"
