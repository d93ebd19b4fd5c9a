"""Every change to a review, an action item or a runbook: one function per verb.

Like `incidents.workflow`, each function checks the user's permission, locks the rows
it changes (the incident first, then the review: one fixed order, so two requests never
deadlock), makes the change and, for review events, appends one `review` entry to the
incident's timeline, all in one transaction. Views and the admin call these; nothing
else writes `Review.state`, `ActionItem.state` or `Service.runbook`.

Refusals raise `incidents.workflow.InvalidTransition` (a message for the user);
missing permissions raise `PermissionDenied`.
"""

from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.timezone import localdate, now

from incidents import roles, workflow
from incidents.models import Incident, Service, Status, TimelineEntry
from incidents.workflow import Conflict, InvalidTransition
from reviews import notify, prefill, reminders
from reviews.models import SECTION_FIELDS, ActionItem, Review, RunbookRevision

WRITE = roles.WRITE_REVIEW
PUBLISH = roles.PUBLISH_REVIEW
EDIT_RUNBOOK = roles.EDIT_RUNBOOK

# Incidents whose review may be started: the response is over.
REVIEWABLE = [Status.RESOLVED, Status.CLOSED]


def _require(user, perm: str) -> None:
    if not user.has_perm(perm):
        raise PermissionDenied


def _lock(review: Review) -> Review:
    # select_for_update on the incident, then the review: a reviewer and a manager may press buttons at once.
    Incident.objects.select_for_update().get(pk=review.incident_id)
    return Review.objects.select_for_update(of=("self",)).select_related("incident__type").get(pk=review.pk)


def _note(review: Review, *, by, event: str, text: str = "", **data) -> TimelineEntry:
    return workflow.record(
        review.incident, by=by, kind=TimelineEntry.Kind.REVIEW, text=text, event=event, review_id=review.pk, **data
    )


# --- the review ------------------------------------------------------------------------


@transaction.atomic
def start(incident: Incident, *, by) -> Review:
    """Start the review of a resolved (or closed) incident, pre-filled; or return the one that exists."""
    _require(by, WRITE)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    existing = Review.objects.filter(incident=incident).first()
    if existing is not None:
        return existing
    if incident.status not in REVIEWABLE:
        raise InvalidTransition(
            f"{incident.ref} is {incident.get_status_display().lower()}; a review starts once it is resolved."
        )
    try:
        # A savepoint: the unique incident column settles a race the lock above cannot see on SQLite.
        with transaction.atomic():
            review = Review.objects.create(incident=incident, **prefill.initial_sections(incident))
    except IntegrityError:
        return Review.objects.get(incident=incident)
    review.authors.add(by)
    _note(review, by=by, event="started", text="Post-incident review started.")
    return review


def may_edit(user, review: Review) -> bool:
    return user.has_perm(WRITE) and review.is_editable


@transaction.atomic
def edit(review: Review, *, by, version: int, changes: dict[str, str]) -> Review:
    """Save section texts if nobody saved the review since `version` (else Conflict with the current review)."""
    _require(by, WRITE)
    review = _lock(review)
    if not review.is_editable:
        raise InvalidTransition(f"The review of {review.incident.ref} is published and read-only.")
    if review.version != version:
        raise Conflict(
            f"The review of {review.incident.ref} was changed since you opened it. Its current text is shown; "
            "your text is kept below each field to copy from.",
            review,
        )
    for field, value in changes.items():
        if field == "type_sections":
            # The sections the incident's type requires, by name; others the review had are kept.
            review.type_sections = {**(review.type_sections or {}), **value}
            continue
        if field not in SECTION_FIELDS:
            raise ValueError(f"{field} is not a section of a review")
        setattr(review, field, value)
    review.version = F("version") + 1
    review.save()
    review.refresh_from_db()
    review.authors.add(by)
    return review


@transaction.atomic
def submit(review: Review, *, by) -> Review:
    """draft → in review: the authors ask a manager to approve it."""
    _require(by, WRITE)
    review = _lock(review)
    if review.state != Review.State.DRAFT:
        raise InvalidTransition(f"The review of {review.incident.ref} is {review.get_state_display().lower()}.")
    if not review.root_cause.strip():
        raise InvalidTransition("Write the root cause before submitting the review.")
    review.state = Review.State.IN_REVIEW
    review.submitted_at = now()
    review.save()
    review.authors.add(by)
    _note(review, by=by, event="submitted", text="Review submitted for approval.")
    return review


@transaction.atomic
def publish(review: Review, *, by) -> Review:
    """in review → published (managers other than its authors, unless REVIEW_SELF_PUBLISH). The
    review becomes read-only; the approver is recorded.

    Tells the incident's people through `notify.queue` (in this transaction).
    """
    _require(by, PUBLISH)
    review = _lock(review)
    if review.state != Review.State.IN_REVIEW:
        raise InvalidTransition(
            f"The review of {review.incident.ref} is {review.get_state_display().lower()}; "
            "only a submitted review can be published."
        )
    empty = review.empty_required_sections()
    if empty:
        raise InvalidTransition(
            f"The review of {review.incident.ref} cannot be published yet: a {review.incident.type.name} review "
            f"needs {_listing(empty)} written. Edit the review to write {'it' if len(empty) == 1 else 'them'}."
        )
    own = by is not None and review.authors.filter(pk=by.pk).exists()
    if own and not settings.REVIEW_SELF_PUBLISH:
        raise InvalidTransition(
            "You are one of this review's authors: another manager must approve and publish it "
            "(REVIEW_SELF_PUBLISH=1 allows it for one-person teams)."
        )
    review.state = Review.State.PUBLISHED
    review.approver = by
    review.published_at = now()
    review.save()
    if own:
        _note(review, by=by, event="published", text="Review published by one of its own authors.", self_published=True)
    else:
        _note(review, by=by, event="published", text="Review approved and published.")
    followers = notify.followers_of(review)
    notify.queue(notify.review_published(review, followers=followers), incident=review.incident)
    return review


def _listing(titles: list[str]) -> str:
    quoted = [f"“{t}”" for t in titles]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


@transaction.atomic
def return_to_draft(review: Review, *, by, reason: str) -> Review:
    """in review or published → draft (managers), with the reason on the incident's timeline."""
    _require(by, PUBLISH)
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why the review goes back to draft.")
    review = _lock(review)
    if review.state == Review.State.DRAFT:
        raise InvalidTransition(f"The review of {review.incident.ref} is already a draft.")
    old = review.state
    review.state = Review.State.DRAFT
    review.approver = None
    review.published_at = None
    review.submitted_at = None
    review.save()
    _note(review, by=by, event="returned", text=f"Review returned to draft: {reason}", old=old)
    return review


@transaction.atomic
def set_public_summary(review: Review, *, by, text: str) -> Review:
    """Publish (or, with empty text, withdraw) the short public post-mortem (managers).

    Only this text may reach the public status page; the review itself never does.
    """
    _require(by, PUBLISH)
    text = text.strip()
    review = _lock(review)
    if not text and not review.public_summary:
        raise InvalidTransition("Write the public summary first.")
    review.public_summary = text
    review.public_summary_published_at = now() if text else None
    review.save()
    event = "public_summary" if text else "public_summary_withdrawn"
    _note(review, by=by, event=event, text="Public summary published." if text else "Public summary withdrawn.")
    return review


# --- action items ----------------------------------------------------------------------


def default_due_date(priority: str, today: date | None = None) -> date:
    weeks = settings.ACTION_ITEM_DUE_WEEKS
    return (today or localdate()) + timedelta(weeks=weeks.get(priority, weeks["default"]))


def may_change_item(user, item: ActionItem) -> bool:
    """Authors may change any item; its owner may mark it done or won't-do."""
    return user.has_perm(WRITE) or item.owner_id == user.pk


@transaction.atomic
def add_action_item(
    review: Review,
    *,
    by,
    title: str,
    owner,
    type: str,
    priority: str,
    due_date: date | None = None,
    tracker_url: str = "",
) -> ActionItem:
    """Add an item to a review that is not yet published; the due date defaults from the priority.

    Tells the owner through `notify.queue` (in this transaction).
    """
    _require(by, WRITE)
    review = _lock(review)
    if not review.is_editable:
        raise InvalidTransition(f"The review of {review.incident.ref} is published; return it to draft to add items.")
    item = ActionItem.objects.create(
        review=review,
        title=title.strip(),
        owner=owner,
        type=type,
        priority=priority,
        due_date=due_date or default_due_date(priority),
        tracker_url=tracker_url,
        created_by=by,
    )
    reminders.schedule(item)
    notify.queue(notify.action_item_assigned(item, by=by), incident=item.review.incident)
    return item


@transaction.atomic
def edit_action_item(item: ActionItem, *, by, **fields) -> ActionItem:
    """Change an item's title, owner, type, priority, due date or tracker link (authors).

    An emptied due date defaults from the priority, as in `add_action_item`.
    """
    _require(by, WRITE)
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    old_owner, old_due = item.owner_id, item.due_date
    for field in ["title", "owner", "type", "priority", "due_date", "tracker_url"]:
        if field in fields:
            setattr(item, field, fields[field])
    item.due_date = item.due_date or default_due_date(item.priority)
    item.save()
    if item.due_date != old_due or item.owner_id != old_owner:
        reminders.schedule(item)
    if item.owner_id != old_owner:
        notify.queue(notify.action_item_assigned(item, by=by), incident=item.review.incident)
    return item


@transaction.atomic
def set_action_item_state(item: ActionItem, *, by, state: str, reason: str = "") -> ActionItem:
    """open ↔ done / won't do. "Won't do" needs its reason."""
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if not may_change_item(by, item):
        raise PermissionDenied
    if state not in ActionItem.State.values:
        raise InvalidTransition(f"Unknown state {state!r}.")
    reason = reason.strip()
    if state == ActionItem.State.WONT_DO and not reason:
        raise InvalidTransition("Say why this action item will not be done.")
    if item.state == state:
        raise InvalidTransition(f"“{item.title}” is already {item.get_state_display().lower()}.")
    item.state = state
    item.wont_do_reason = reason if state == ActionItem.State.WONT_DO else ""
    item.closed_at = None if state == ActionItem.State.OPEN else now()
    item.save()
    if state == ActionItem.State.OPEN:
        reminders.schedule(item)
    return item


# --- runbooks --------------------------------------------------------------------------


def latest_revision_id(service: Service) -> int:
    """The version a runbook edit form carries: the newest revision's id, 0 before the first."""
    return service.runbook_revisions.order_by("-created_at", "-pk").values_list("pk", flat=True).first() or 0


@transaction.atomic
def save_runbook(
    service: Service, *, by, text: str, base_revision: int, comment: str = "", review: Review | None = None
) -> RunbookRevision:
    """Store a new runbook revision if nobody saved one since `base_revision` (else Conflict)."""
    _require(by, EDIT_RUNBOOK)
    if review is not None:
        # The incident first: incidents.workflow locks an incident together with its service.
        Incident.objects.select_for_update().get(pk=review.incident_id)
    # select_for_update: two responders editing the same runbook; the second must see the first's text.
    service = Service.objects.select_for_update().get(pk=service.pk)
    if latest_revision_id(service) != base_revision:
        raise Conflict(
            f"The runbook of {service.name} was changed since you opened it. The current text is shown; "
            "your text is kept below to copy from.",
            service,
        )
    if text == service.runbook:
        raise InvalidTransition("The runbook is unchanged.")
    service.runbook = text
    service.save(update_fields=["runbook"])
    revision = RunbookRevision.objects.create(
        service=service, text=text, author=by, comment=comment.strip(), review=review
    )
    if review is not None:
        _note(review, by=by, event="runbook", text=f"Runbook of {service.name} updated.", revision_id=revision.pk)
    return revision
