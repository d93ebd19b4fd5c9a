"""The alert group panel on an incident's page (responders): what Alertmanager said, and why
the incident is or is not mitigated yet. A fixed number of queries, however many alerts."""

import json

from django.http import HttpRequest

from incidents import roles
from incidents.models import ALERT_SOURCES, Alert, AlertGroup, Incident, Silence, Status

# Alerts listed per state; the rest are counted ("and N more").
SHOWN = 25
# Characters of the last payload shown as text.
PAYLOAD_CHARS = 20_000


def alert_panel_context(request: HttpRequest, incident: Incident) -> dict | None:
    if incident.source not in ALERT_SOURCES:
        return None  # no query for incidents people reported
    if not request.user.has_perm(roles.RESPOND_INCIDENT):
        return None
    group = AlertGroup.objects.select_related("integration").filter(incident=incident).first()
    if group is None:
        return None
    alerts = Alert.objects.filter(group=group)
    firing = list(alerts.filter(status=Alert.Status.FIRING).order_by("starts_at", "pk")[: SHOWN + 1])
    resolved = list(alerts.filter(status=Alert.Status.RESOLVED).order_by("-ends_at", "-pk")[: SHOWN + 1])
    counts = {"firing": len(firing), "resolved": len(resolved)}
    if len(firing) > SHOWN or len(resolved) > SHOWN:
        counts = {
            "firing": alerts.filter(status=Alert.Status.FIRING).count(),
            "resolved": alerts.filter(status=Alert.Status.RESOLVED).count(),
        }
    payload = json.dumps(group.last_payload, indent=2, ensure_ascii=False)
    return {
        "group": group,
        "firing": firing[:SHOWN],
        "resolved": resolved[:SHOWN],
        "firing_count": counts["firing"],
        "resolved_count": counts["resolved"],
        "more_firing": max(counts["firing"] - SHOWN, 0),
        "more_resolved": max(counts["resolved"] - SHOWN, 0),
        "payload": payload[:PAYLOAD_CHARS],
        "payload_cut": len(payload) > PAYLOAD_CHARS,
        "why": explain(incident, counts["firing"]),
        # "Silence this alert for 2 h" (incidents/maintenance/), and the silences made here in force.
        "may_silence": request.user.has_perm(roles.ADD_SILENCE),
        "silences": list(Silence.objects.active().filter(alert_group=group).order_by("expires_at", "pk")),
    }


def explain(incident: Incident, firing: int) -> str:
    """In plain words: why the incident is, or is not yet, mitigated."""
    status = incident.status
    alerts = f"{firing} alert{'s' if firing != 1 else ''}"
    sender = "Alertmanager" if incident.source == Incident.Source.ALERTMANAGER else "the webhook"
    if status in (Status.REPORTED, Status.ACKNOWLEDGED):
        if firing:
            return (
                f"Not mitigated yet: {alerts} of this group still firing. Beacon marks the incident mitigated "
                f"when {sender} reports every alert resolved, or a responder does."
            )
        return (
            "Every alert of this group has resolved, but the incident was reopened or acknowledged after that, "
            "so Beacon leaves the next step to a person."
        )
    if status == Status.MITIGATED:
        if firing:
            return (
                f"Marked mitigated, but {alerts} of this group {'are' if firing != 1 else 'is'} firing again. "
                "Check whether users are affected again."
            )
        if incident.source_resolved_at:
            return (
                f"Mitigated because {sender} reported every alert of this group resolved. Beacon never "
                "resolves an incident by itself: a person confirms that users are no longer affected."
            )
        return "Marked mitigated by a responder; every alert of this group has resolved since."
    if status == Status.RESOLVED:
        return "Resolved by a person. If the group fires again soon, Beacon reopens this incident."
    return "Closed. If the group fires again, Beacon opens a new incident."
