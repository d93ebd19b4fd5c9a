"""What reviews learn from an incident's Alertmanager alerts: the alert name (similar past
incidents) and the `runbook_url` annotation (the runbook panel). Registered in ReviewsConfig.ready."""

from django.db.models import Q

from incidents.models import Alert, Incident


def _alerts(incident: Incident):
    return Alert.objects.filter(group__incident=incident)


def same_alertname(incident: Incident) -> Q | None:
    """Past incidents opened by an alert of the same name (one query, Alertmanager incidents only)."""
    if incident.source != Incident.Source.ALERTMANAGER:
        return None
    names = {name for name in _alerts(incident).values_list("labels__alertname", flat=True) if isinstance(name, str)}
    if not names:
        return None
    return Q(alert_group__alerts__labels__alertname__in=sorted(names))


def runbook_url(incident: Incident) -> str | None:
    """The first `runbook_url` annotation of the incident's alerts, if it is an http(s) link."""
    if incident.source != Incident.Source.ALERTMANAGER:
        return None
    for annotations in _alerts(incident).order_by("starts_at", "pk").values_list("annotations", flat=True):
        url = (annotations or {}).get("runbook_url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return url
    return None
