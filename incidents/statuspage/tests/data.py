"""Incidents in a given public state for the status page tests, moved there through the workflow."""

from datetime import timedelta

from incidents import workflow
from incidents.models import Incident, StatusUpdate, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident


def incident_in(stage: str, *, by, closer=None, service=None, public=True, **fields) -> Incident:
    """An incident reported by `by` (a responder) and moved to `stage` (reported … closed by `closer`)."""
    incident = make_incident(by=by, service=service or ServiceFactory(name="Checkout"), public=public, **fields)
    if stage in {"acknowledged", "mitigated", "resolved", "closed"}:
        workflow.acknowledge(incident, by=by)
    if stage in {"mitigated", "resolved", "closed"}:
        workflow.mitigate(incident, by=by)
    if stage in {"resolved", "closed"}:
        workflow.resolve(incident, by=by, summary="Fixed.", confirmed=True)
    if stage == "closed":
        incident.refresh_from_db()
        workflow.close(incident, by=closer)
    incident.refresh_from_db()
    return incident


def move_back(incident: Incident, days: float) -> Incident:
    """Shift an incident's whole history `days` into the past (the workflow stamps 'now')."""
    delta = timedelta(days=days)
    fields = ["occurred_at", "reported_at", "acknowledged_at", "mitigated_at", "resolved_at", "closed_at"]
    changes = {f: getattr(incident, f) - delta for f in fields if getattr(incident, f)}
    Incident.objects.filter(pk=incident.pk).update(**changes)
    for update in StatusUpdate.objects.filter(incident=incident):
        StatusUpdate.objects.filter(pk=update.pk).update(created_at=update.created_at - delta)
    for entry in TimelineEntry.objects.filter(incident=incident):
        TimelineEntry.objects.filter(pk=entry.pk).update(created_at=entry.created_at - delta)
    incident.refresh_from_db()
    return incident
