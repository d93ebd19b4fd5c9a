"""The dead man's switch: Alertmanager's always-firing heartbeat alert, and the check that misses it.

Each heartbeat (a firing `Watchdog`, by default) records when it arrived and arms a
delayed task `window` later. Every heartbeat arms a new one, so most checks that run
are stale; a check only acts when nothing arrived since `window` ago, which makes the
stale ones harmless and two checks at once no worse than one (the row is locked).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.timezone import now
from django_tasks import task
from django_tasks.exceptions import InvalidTaskError

from incidents import tasking, workflow
from incidents.models import Heartbeat, Incident, Integration, Service, Severity, TimelineEntry

logger = logging.getLogger(__name__)

PIPELINE_SERVICE = "Alerting pipeline"


def alertname_for(integration: Integration) -> str:
    """The alert name this integration's heartbeat uses (the setting's default until configured)."""
    try:
        # Read with the integration when it was fetched with select_related("heartbeat").
        configured = integration.heartbeat.alertname
    except Heartbeat.DoesNotExist:
        configured = ""
    return configured or settings.ALERTMANAGER_HEARTBEAT_ALERTNAME


def beat(integration: Integration) -> Heartbeat:
    """A heartbeat arrived: note it, say the pipeline is back if it was silent, arm the next check.

    Must run inside the caller's transaction. The first heartbeat of an integration starts
    the watch with the default window; managers change it (or switch it off) in the admin.
    """
    try:
        with transaction.atomic():
            Heartbeat.objects.get_or_create(
                integration=integration,
                defaults={
                    "alertname": settings.ALERTMANAGER_HEARTBEAT_ALERTNAME,
                    "window": timedelta(minutes=settings.ALERTMANAGER_HEARTBEAT_WINDOW_MINUTES),
                },
            )
    except IntegrityError:
        pass  # another delivery created it a moment ago
    hb = Heartbeat.objects.select_for_update().get(integration=integration)
    previous = hb.last_seen_at
    hb.last_seen_at = now()
    update = ["last_seen_at"]
    if hb.silent_incident_id is not None:
        incident = Incident.objects.select_for_update().get(pk=hb.silent_incident_id)
        workflow.record(
            incident,
            by=None,
            kind=TimelineEntry.Kind.ALERT_RESOLVED,
            text=f"The alerting pipeline is back: Beacon received the {hb.alertname} heartbeat "
            f"from {integration.name} again.",
            heartbeat=True,
            integration=integration.name,
            last_seen_before=previous.isoformat() if previous else None,
        )
        hb.silent_incident = None
        update.append("silent_incident")
    hb.save(update_fields=update)
    if hb.is_active:
        pk, window = hb.pk, hb.window
        tasking.with_change(lambda: arm(pk, window))
    return hb


def arm(heartbeat_id: int, window: timedelta) -> None:
    """Enqueue a check `window` from now (after the heartbeat committed)."""
    try:
        tasking.enqueue(check_heartbeat.using(run_after=now() + window), heartbeat_id)
    except InvalidTaskError:
        # ImmediateBackend (a missing TASKS setting) cannot delay: the heartbeat goes unwatched.
        logger.warning("The task backend cannot delay tasks; heartbeat %s is not watched.", heartbeat_id)


@task(queue_name="default")
def check_heartbeat(heartbeat_id: int) -> str:
    """Open "Alerting pipeline is silent" when no heartbeat came within the window; else nothing."""
    with workflow.via(workflow.VIA_ALERT), transaction.atomic():
        hb = Heartbeat.objects.select_for_update().select_related("integration").filter(pk=heartbeat_id).first()
        if hb is None or not hb.is_active or not hb.integration.is_active:
            return "not watched"
        if hb.silent_incident_id is not None:
            return "already silent"
        if hb.last_seen_at is not None and hb.last_seen_at + hb.window > now():
            # A later heartbeat came (and armed a later check): this one is stale.
            return "alive"
        incident = workflow.report(
            by=None,
            title="Alerting pipeline is silent",
            description=(
                f"Beacon has received no {hb.alertname} heartbeat from the integration “{hb.integration.name}” "
                f"for more than {_minutes(hb.window)} (last one: "
                f"{hb.last_seen_at:%Y-%m-%d %H:%M:%S %Z}). Prometheus, Alertmanager, the network between "
                "them and Beacon, or the receiver's token may be broken: alerts may not be reaching Beacon."
                if hb.last_seen_at
                else f"Beacon has never received the {hb.alertname} heartbeat from “{hb.integration.name}”."
            ),
            impact="While the alerting pipeline is silent, outages that Prometheus detects open no incidents.",
            occurred_at=(hb.last_seen_at or now()),
            severity=Severity.CRITICAL,
            service=_pipeline_service(),
            source=Incident.Source.ALERTMANAGER,
        )
        hb.silent_incident = incident
        hb.save(update_fields=["silent_incident"])
        return f"silent: {incident.ref}"


def check_all_overdue() -> int:
    """Check every watched heartbeat whose window has passed (the sweeper calls this every
    minute): a check task lost with a killed worker must not leave a silent pipeline unseen.
    Returns how many silent-pipeline incidents were opened."""
    opened = 0
    overdue = Heartbeat.objects.filter(
        is_active=True, integration__is_active=True, silent_incident__isnull=True, last_seen_at__isnull=False
    ).only("pk", "last_seen_at", "window")
    for hb in overdue:
        if hb.last_seen_at + hb.window <= now():
            opened += check_heartbeat.call(hb.pk).startswith("silent")
    return opened


def _minutes(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    if minutes >= 1:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{int(window.total_seconds())} seconds"


def _pipeline_service() -> Service:
    service, _ = Service.objects.get_or_create(
        name=PIPELINE_SERVICE,
        defaults={"description": "Prometheus, Alertmanager and their connection to Beacon.", "is_public": False},
    )
    return service
