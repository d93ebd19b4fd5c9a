"""Reviews in a given state, reached through the real workflow and lifecycle functions."""

from datetime import timedelta

from incidents import workflow
from incidents.tests.factories import ServiceFactory, make_incident
from reviews import lifecycle
from reviews.models import ActionItem, Review


def resolved_incident(*, by, responder, mitigate=True, **fields):
    """An incident reported by `by`, acknowledged, (mitigated,) and resolved by `responder`."""
    incident = make_incident(by=by, **fields)
    workflow.acknowledge(incident, by=responder)
    if mitigate:
        workflow.mitigate(incident, by=responder, text="Rolled back the release.")
    return workflow.resolve(incident, by=responder, summary="Rolled back release 42.", confirmed=True)


def make_review(*, responder, manager=None, state=Review.State.DRAFT, incident=None, **sections) -> Review:
    """A review of a resolved incident in `state`; publishing needs `manager`."""
    incident = incident or resolved_incident(by=responder, responder=responder)
    review = lifecycle.start(incident, by=responder)
    sections.setdefault("root_cause", "A bad deploy.")
    review = lifecycle.edit(review, by=responder, version=review.version, changes=sections)
    if state in (Review.State.IN_REVIEW, Review.State.PUBLISHED):
        review = lifecycle.submit(review, by=responder)
    if state == Review.State.PUBLISHED:
        review = lifecycle.publish(review, by=manager)
    return Review.objects.select_related("incident").get(pk=review.pk)


def make_item(review: Review, *, by, owner, **fields) -> ActionItem:
    values = {"title": "Add a canary stage", "type": ActionItem.Type.PREVENTIVE, "priority": ActionItem.Priority.HIGH}
    values.update(fields)
    return lifecycle.add_action_item(review, by=by, owner=owner, **values)


def backdate_due(item: ActionItem, days: int) -> ActionItem:
    """Make an item fall due `days` ago (tests of overdue; the form refuses past dates)."""
    from django.utils.timezone import localdate

    ActionItem.objects.filter(pk=item.pk).update(due_date=localdate() - timedelta(days=days))
    item.refresh_from_db()
    return item


__all__ = ["ServiceFactory", "backdate_due", "make_item", "make_review", "resolved_incident"]
