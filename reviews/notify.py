"""Who hears about review events, and what they are told.

These functions decide the recipients and the text and return `Message`s; `queue`
writes one Notification row per message (incidents' outbox) in the same transaction as
the change, and the outbox delivers them with its retries. Whether a person takes email
at all (active, an address, email not turned off) is `queue_direct`'s decision, not ours.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse

from incidents.models import Subscription
from incidents.notifications.outbox import clean_header, queue_direct
from reviews.models import ActionItem, Review

# Subjects are one header line (a newline would make the message unsendable), and short.
SUBJECT_MAX = 150


@dataclass(frozen=True)
class Message:
    """One email to write to the outbox: recipient user, subject, body, and a key that makes a resend harmless."""

    to: object  # a User; queue_direct skips those who take no email
    subject: str
    body: str
    idempotency_key: str


def _link(path: str) -> str:
    return settings.SITE_URL + path


def action_item_assigned(item: ActionItem, *, by=None) -> list[Message]:
    """An item was created for, or reassigned to, `item.owner` by `by`. Nobody is told about their own doing."""
    owner = item.owner
    if by is not None and by.pk == owner.pk:
        return []
    if item.state != ActionItem.State.OPEN:
        return []
    incident = item.review.incident
    body = (
        f"You own an action item from the review of {incident.ref} ({incident.title}):\n\n"
        f"  {item.title}\n  {item.get_type_display()}, {item.get_priority_display()} priority, "
        f"due {item.due_date:%Y-%m-%d}\n\n{_link(item.review.get_absolute_url())}\n"
    )
    return [
        Message(
            to=owner,
            subject=clean_header(f"[Beacon] Action item for you: {item.title}", SUBJECT_MAX),
            body=body,
            idempotency_key=f"action-assigned:{item.pk}:{owner.pk}",
        )
    ]


def action_item_due(item: ActionItem) -> list[Message]:
    """The reminder when an open item falls due; nothing if it is done, dropped or was rescheduled."""
    if item.state != ActionItem.State.OPEN:
        return []
    incident = item.review.incident
    body = (
        f"Your action item from the review of {incident.ref} is due today ({item.due_date:%Y-%m-%d}) "
        f"and still open:\n\n  {item.title}\n\nMark it done, or won't do with a reason, at "
        f"{_link(reverse('reviews:actions'))}?owner={item.owner.get_username()}\n"
    )
    return [
        Message(
            to=item.owner,
            subject=clean_header(f"[Beacon] Action item due: {item.title}", SUBJECT_MAX),
            body=body,
            idempotency_key=f"action-due:{item.pk}:{item.due_date.isoformat()}",
        )
    ]


def review_published(review: Review, followers=()) -> list[Message]:
    """A review was published: the incident's followers, its reporter and lead, and the authors hear of it.

    `followers` are the users following the incident (the subscriptions part of Beacon
    supplies them); the approver, who did it, is left out.
    """
    incident = review.incident
    people = {}
    for user in [incident.reporter, incident.lead, *review.authors.all(), *followers]:
        if user is not None and user.pk != review.approver_id:
            people[user.pk] = user
    body = (
        f"The post-incident review of {incident.ref} ({incident.title}) is published.\n\n"
        f"{_link(review.get_absolute_url())}\n"
    )
    return [
        Message(
            to=user,
            subject=clean_header(f"[Beacon] Review published: {incident.ref} {incident.title}", SUBJECT_MAX),
            body=body,
            idempotency_key=f"review-published:{review.pk}:{review.published_at.isoformat()}:{user.pk}",
        )
        for user in people.values()
    ]


def queue(messages: list[Message], *, incident=None) -> list:
    """Write one outbox row per message, in the caller's transaction (delivery starts after commit).

    Returns the Notifications: none for a recipient who takes no email. The idempotency
    key makes a repeat harmless: the same key writes no second row.
    """
    written = []
    for m in messages:
        row = queue_direct(
            event_key=m.idempotency_key,
            user=m.to,
            subject=m.subject,
            template="reviews/email/message.txt",
            context={"body": m.body},
            incident=incident,
        )
        if row is not None:
            written.append(row)
    return written


def followers_of(review: Review) -> list:
    """Users following the review's incident or its service."""
    incident = review.incident
    follows = Subscription.objects.filter(user__isnull=False).filter(
        models.Q(incident=incident) | models.Q(service_id=incident.service_id)
    )
    return list(get_user_model().objects.filter(pk__in=follows.values("user_id")).select_related("profile"))
