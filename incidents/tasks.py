"""Background tasks (django-tasks). Arguments are primary keys only (JSON), and every task
re-reads its rows: a task may run late, twice, or after the state it was queued for.

Task paths are stored as strings in queued rows: keep these names (or aliases) across
releases.
"""

from django_tasks import task

from incidents import delivery, notifications


@task(queue_name="email")
def deliver_email(notification_id: int) -> str:
    return delivery.deliver(notification_id)


@task(queue_name="slack")
def deliver_slack(notification_id: int) -> str:
    return delivery.deliver(notification_id)


@task(queue_name="default")
def remind_lead(incident_id: int) -> bool:
    return notifications.remind_lead(incident_id)


DELIVERY_TASKS = {"email": deliver_email, "slack": deliver_slack}
