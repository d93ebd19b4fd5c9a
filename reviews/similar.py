"""'Similar past incidents': what fixed this last time.

An incident is similar when it shares the service, or anything a registered matcher
says (the Alertmanager intake adds one for the alert name).
"""

from collections.abc import Callable

from django.db.models import Prefetch, Q

from incidents.models import Incident, Status
from reviews.models import ActionItem

LIMIT = 5

# Each matcher returns a condition on Incident meaning "similar to `incident`", or None.
_matchers: list[Callable[[Incident], Q | None]] = []


def register_matcher(matcher: Callable[[Incident], Q | None]) -> Callable[[Incident], Q | None]:
    """Add a similarity rule. ALERTNAME HOOK: the Alertmanager intake registers, for example,
    `lambda i: Q(alerts__labels__alertname=name)` for the incident's own alert name."""
    if matcher not in _matchers:
        _matchers.append(matcher)
    return matcher


@register_matcher
def same_service(incident: Incident) -> Q:
    return Q(service_id=incident.service_id)


def similar_incidents(incident: Incident, limit: int = LIMIT) -> list[Incident]:
    """Up to `limit` resolved or closed incidents like this one, newest first, each with
    `review` (or None) and its action items loaded: two queries whatever the data size."""
    condition = Q()
    for matcher in _matchers:
        extra = matcher(incident)
        if extra is not None:
            condition |= extra
    if not condition:
        return []
    incidents = (
        Incident.objects.filter(condition, status__in=[Status.RESOLVED, Status.CLOSED])
        .exclude(pk=incident.pk)
        # distinct: a matcher that joins (alerts) must not show an incident twice.
        .distinct()
        .select_related("review")
        .prefetch_related(
            Prefetch("review__action_items", queryset=ActionItem.objects.select_related("owner").order_by("due_date"))
        )
        .order_by("-resolved_at", "-pk")[:limit]
    )
    return list(incidents)
