"""Delivering outbox rows: claim, send outside any transaction, record the outcome.

The guarantees (docs/notifications.md says them for users):
- `claim` is a compare-and-set: one UPDATE that succeeds for exactly one worker, for a
  row that is pending and due, or sending with an expired lease (its worker died).
- The send happens after the claim has committed, with a timeout, in no transaction.
- A row that reached `sent` is never claimed again. The only duplicate window is "the
  server accepted it, the process died before `sent` was stored"; the deterministic
  Message-ID makes such a duplicate recognisable.
- Transient errors retry after 1, 5, 15 and 60 minutes, then the row fails; permanent
  errors fail at once. Failed rows are listed in the admin with a "retry now" action.
"""

import logging
from datetime import timedelta

from django.db.models import F, Q
from django.utils.timezone import now
from django_tasks import task

from incidents import tasking
from incidents.models import ChannelProblem, Notification
from incidents.notifications.transports import TRANSPORTS, TransportError

logger = logging.getLogger(__name__)

State = Notification.State

BACKOFF = [timedelta(minutes=m) for m in (1, 5, 15, 60)]
MAX_ATTEMPTS = len(BACKOFF) + 1
# Longer than any send may take (EMAIL_TIMEOUT, transports.HTTP_TIMEOUT): a live worker
# never loses its claim to the sweeper.
LEASE = timedelta(minutes=2)
# The sweeper leaves freshly due rows to the task enqueued on commit for this long.
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_BATCH = 500


# --- the tasks: arguments are primary keys only, and each re-reads its row -------------
# Queued rows store these by import path (incidents.notifications.delivery.deliver_email):
# keep the names, or leave an alias behind (incidents/tasks.py does for the old layout).


@task(queue_name="email")
def deliver_email(notification_id: int) -> str:
    return deliver(notification_id)


@task(queue_name="slack")
def deliver_slack(notification_id: int) -> str:
    return deliver(notification_id)


@task(queue_name="webhooks")
def deliver_webhook(notification_id: int) -> str:
    return deliver(notification_id)


# A user's own paging channels (ntfy, Pushover…, through Apprise): a slow push service holds up
# only this queue.
@task(queue_name="apprise")
def deliver_apprise(notification_id: int) -> str:
    return deliver(notification_id)


# The Slack app's rows share the Slack queue and worker.
DELIVERY_TASKS = {
    "email": deliver_email,
    "slack": deliver_slack,
    "slack_app": deliver_slack,
    "webhook": deliver_webhook,
    "apprise": deliver_apprise,
}


def enqueue(rows: list[tuple[int, str]], run_after=None) -> None:
    """Hand rows to the task queues: each channel has its own queue (and worker).

    With the database task backend, each channel's tasks are written in one INSERT: resolving an
    incident with 200 subscribers wrote 200 task rows one by one."""
    by_channel: dict[str, list[int]] = {}
    for pk, channel in rows:
        by_channel.setdefault(channel, []).append(pk)
    for channel, pks in by_channel.items():
        task_ = DELIVERY_TASKS[channel]
        if run_after is not None:
            if not task_.get_backend().supports_defer:
                continue  # an inline backend: the sweeper picks the row up when it is due
            task_ = task_.using(run_after=run_after)
        tasking.enqueue_each(task_, [(pk,) for pk in pks])


def claim(pk: int) -> Notification | None:
    """Take the row for sending, or None if it is not ours to send (done, not due, or
    another worker holds a live lease)."""
    at = now()
    taken = (
        Notification.objects.filter(pk=pk)
        .due(at)
        .update(state=State.SENDING, lease_until=at + LEASE, attempts=F("attempts") + 1)
    )
    if taken != 1:
        return None
    return Notification.objects.get(pk=pk)


def deliver(pk: int) -> str:
    """Deliver one row if it is due. Returns what happened: sent, retry, failed or skipped."""
    notification = claim(pk)
    if notification is None:
        return "skipped"
    try:
        TRANSPORTS[notification.channel](notification).send()
    except TransportError as error:
        if error.channel_broken:
            mark_broken(notification, error.message)
        return record_failure(notification, error.message, permanent=error.permanent, retry_after=error.retry_after)
    except Exception as error:  # noqa: BLE001 - a bug in rendering or a transport must not strand the row
        logger.exception("Notification %s: unexpected error", pk)
        return record_failure(notification, f"{type(error).__name__}: {error}", permanent=False)
    Notification.objects.filter(pk=pk, state=State.SENDING).update(
        state=State.SENT, sent_at=now(), lease_until=None, last_error=""
    )
    # A delivery that works clears the destination's problem, if it had one.
    ChannelProblem.objects.filter(channel=notification.channel, destination=destination_of(notification)).delete()
    return "sent"


def destination_of(notification: Notification) -> str:
    """What a failure breaks: the SMTP server for every email; each Slack webhook and each
    outgoing webhook ("webhook:<pk>") on its own."""
    return "smtp" if notification.channel == Notification.Channel.EMAIL else notification.recipient


def mark_broken(notification: Notification, message: str) -> None:
    """Record (or refresh) the destination's problem; health.tell_managers() emails them once."""
    destination = destination_of(notification)
    service_id = None
    if destination.startswith("service:"):
        service_id = int(destination.split(":", 1)[1])
    at = now()
    problem, created = ChannelProblem.objects.get_or_create(
        channel=notification.channel,
        destination=destination,
        defaults={"error": message[:2000], "service_id": service_id, "since": at, "last_failure_at": at},
    )
    if not created:
        ChannelProblem.objects.filter(pk=problem.pk).update(error=message[:2000], last_failure_at=at)


def record_failure(notification: Notification, message: str, *, permanent: bool, retry_after: int | None = None) -> str:
    attempts = notification.attempts
    if permanent or attempts >= MAX_ATTEMPTS:
        Notification.objects.filter(pk=notification.pk, state=State.SENDING).update(
            state=State.FAILED, lease_until=None, last_error=message[:2000], permanent_error=permanent
        )
        logger.warning(
            "Notification %s failed (%s): %s", notification.pk, "permanent" if permanent else "gave up", message
        )
        return "failed"
    wait = BACKOFF[attempts - 1]
    if retry_after:
        wait = max(wait, timedelta(seconds=retry_after))
    due = now() + wait
    Notification.objects.filter(pk=notification.pk, state=State.SENDING).update(
        state=State.PENDING, lease_until=None, next_attempt_at=due, last_error=message[:2000]
    )
    enqueue([(notification.pk, notification.channel)], run_after=due)
    return "retry"


def sweep(at=None, *, limit: int = SWEEP_BATCH) -> int:
    """Re-enqueue rows whose attempt is overdue or whose lease expired. Returns how many.

    This is what saves a message when the process died between COMMIT and enqueue, or a
    worker was killed mid-send (its task row stays RUNNING for ever; ours does not)."""
    at = at or now()
    rows = list(
        Notification.objects.filter(
            Q(state=State.PENDING, next_attempt_at__lte=at - SWEEP_GRACE) | Q(state=State.SENDING, lease_until__lt=at)
        )
        .order_by("next_attempt_at")
        .values_list("pk", "channel")[:limit]
    )
    enqueue(rows)
    return len(rows)


def retry_now(queryset) -> int:
    """Make failed rows due again (the admin's "retry now"): a fresh set of attempts."""
    pks = list(queryset.filter(state=State.FAILED).values_list("pk", "channel"))
    Notification.objects.filter(pk__in=[pk for pk, _ in pks], state=State.FAILED).update(
        state=State.PENDING, attempts=0, next_attempt_at=now(), permanent_error=False
    )
    enqueue(pks)
    return len(pks)
