"""Demo reviews for `manage.py seed_demo`: two published reviews with action items, so the
reviews list, the action items and "similar past incidents" have something to show."""

from datetime import timedelta

from django.utils.timezone import localdate

from incidents import workflow
from incidents.models import Incident, Severity, Status
from reviews import lifecycle
from reviews.models import ActionItem

SECTIONS = {
    "root_cause": "A configuration change lowered the payment provider's connection pool to 2, so card "
    "payments queued and timed out under evening load.",
    "contributing_factors": "- The change was not reviewed.\n- No alert on the pool's queue length.",
    "went_well": "The on-call engineer acknowledged within 3 minutes and rolled back quickly.",
    "went_badly": "Customers noticed before our monitoring did.",
    "lucky": "It happened after the evening peak.",
    "lessons_learned": "Configuration is code: review it and alert on what it limits.",
}


def seed(sender, *, users, **kwargs) -> None:
    responder, manager = users["Responder"], users["Manager"]
    candidates = Incident.objects.filter(
        status=Status.RESOLVED, severity__in=[Severity.CRITICAL, Severity.HIGH], review__isnull=True
    ).order_by("-resolved_at")[:2]
    for incident in candidates:
        review = lifecycle.start(incident, by=responder)
        review = lifecycle.edit(review, by=responder, version=review.version, changes=SECTIONS)
        lifecycle.add_action_item(
            review,
            by=responder,
            title="Alert when the payment pool queue grows",
            owner=responder,
            type=ActionItem.Type.DETECTIVE,
            priority=ActionItem.Priority.HIGH,
        )
        lifecycle.add_action_item(
            review,
            by=responder,
            title="Require review for configuration changes",
            owner=manager,
            type=ActionItem.Type.PREVENTIVE,
            priority=ActionItem.Priority.MEDIUM,
            due_date=localdate() - timedelta(days=3),  # one overdue item, as in real life
        )
        review = lifecycle.submit(review, by=responder)
        lifecycle.publish(review, by=manager)
        workflow.close(incident, by=manager)
