"""The due-date reminder of an action item: a delayed task, scheduled whenever the due date or owner changes.

The task re-reads the item when it runs and does nothing unless the item is still open
and still due on the date it was scheduled for, so a rescheduled, done or deleted item
makes the old task harmless (the task backend cannot cancel a queued task).
"""

import logging
from datetime import date, datetime, time

from django.db import transaction
from django.utils import timezone
from django_tasks import default_task_backend, task

from incidents import tasking

log = logging.getLogger(__name__)

# When on the due date the reminder goes out, in the site's time zone.
REMIND_AT = time(9, 0)


def remind_at(due: date) -> datetime:
    return timezone.make_aware(datetime.combine(due, REMIND_AT))


def schedule(item) -> None:
    """Enqueue the reminder for `item.due_date` after the current transaction commits."""
    if not default_task_backend.supports_defer:
        # The immediate backend (tests, first local run) would remind at once; nothing to schedule.
        log.info("task backend cannot delay tasks; no due-date reminder for action item %s", item.pk)
        return
    pk, due = item.pk, item.due_date
    tasking.with_change(lambda: remind_action_item_due.using(run_after=remind_at(due)).enqueue(pk, due.isoformat()))


@task(queue_name="email")
def remind_action_item_due(item_id: int, due_date: str) -> int:
    """Send the due reminder for one item, if it is still wanted. Returns how many emails it queued."""
    from reviews import notify
    from reviews.models import ActionItem

    item = ActionItem.objects.select_related("owner__profile", "review__incident").filter(pk=item_id).first()
    if item is None or item.due_date.isoformat() != due_date:
        return 0
    with transaction.atomic():
        return len(notify.queue(notify.action_item_due(item), incident=item.review.incident))
