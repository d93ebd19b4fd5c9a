"""What reviews learn from an incident's Alertmanager alerts: the alert name (similar past
incidents) and the `runbook_url` annotation (the runbook panel). Registered in ReviewsConfig.ready."""

from django.db.models import Q

from incidents.models import ALERT_SOURCES, Alert, Incident


def _alerts(incident: Incident):
    return Alert.objects.filter(group__incident=incident)


def same_alertname(incident: Incident) -> Q | None:
    """Past incidents opened by an alert of the same name (one query, Alertmanager incidents only)."""
    if incident.source not in ALERT_SOURCES:
        return None
    names = {name for name in _alerts(incident).values_list("labels__alertname", flat=True) if isinstance(name, str)}
    if not names:
        return None
    return Q(alert_group__alerts__labels__alertname__in=sorted(names))


# Points for a past incident whose alerts share this one's name, and each shared label of these.
ALERTNAME_POINTS = 8
LABEL_POINTS = 1
COMPARED_LABELS = ("job", "instance", "service", "namespace", "cluster")
# A past incident's alerts read for scoring, at most (a storm of thousands says no more).
SCORED_ALERTS = 2000


def _label_pairs(labels: dict) -> set[tuple[str, str]]:
    return {(key, value) for key in COMPARED_LABELS if isinstance(value := labels.get(key), str)}


def alert_points(incident: Incident, candidate_ids: list[int]) -> dict[int, float]:
    """Similar-incident points (reviews/similar.py): the same alert name, then each shared label
    (job, instance…). Two queries for an Alertmanager incident, none otherwise."""
    if incident.source not in ALERT_SOURCES or not candidate_ids:
        return {}
    mine = [labels for labels in _alerts(incident).values_list("labels", flat=True) if isinstance(labels, dict)]
    names = {labels.get("alertname") for labels in mine} - {None}
    pairs = set().union(*(_label_pairs(labels) for labels in mine)) if mine else set()
    theirs: dict[int, tuple[set, set]] = {}
    rows = Alert.objects.filter(group__incident__in=candidate_ids).values_list("group__incident_id", "labels")
    for pk, labels in rows.order_by()[:SCORED_ALERTS]:
        if isinstance(labels, dict):
            seen_names, seen_pairs = theirs.setdefault(pk, (set(), set()))
            seen_names.add(labels.get("alertname"))
            seen_pairs |= _label_pairs(labels)
    points = {}
    for pk, (seen_names, seen_pairs) in theirs.items():
        points[pk] = ALERTNAME_POINTS * bool(names & seen_names) + LABEL_POINTS * min(3, len(pairs & seen_pairs))
    return points


def runbook_url(incident: Incident) -> str | None:
    """The first `runbook_url` annotation of the incident's alerts, if it is an http(s) link."""
    if incident.source not in ALERT_SOURCES:
        return None
    for annotations in _alerts(incident).order_by("starts_at", "pk").values_list("annotations", flat=True):
        url = (annotations or {}).get("runbook_url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return url
    return None
