"""'Similar past incidents': what fixed this last time.

An incident is similar when it shares the service, or anything a registered matcher
says (`alert_hooks.same_alertname` adds the alert name; ReviewsConfig.ready registers it).
"""

from collections.abc import Callable

from django.db.models import Prefetch, Q

from incidents.models import Incident, Status
from reviews.models import ActionItem

LIMIT = 5
SHOWN = ("title", "resolved_at", "resolution_summary", "review__incident", "review__root_cause")

# Each matcher returns a condition on Incident meaning "similar to `incident`", or None.
_matchers: list[Callable[[Incident], Q | None]] = []


def register_matcher(matcher: Callable[[Incident], Q | None]) -> Callable[[Incident], Q | None]:
    """Add a similarity rule: a function of the incident giving a condition on Incident, or None."""
    if matcher not in _matchers:
        _matchers.append(matcher)
    return matcher


@register_matcher
def same_service(incident: Incident) -> Q:
    return Q(service_id=incident.service_id)


def similar_incidents(incident: Incident, user, limit: int = LIMIT) -> list[Incident]:
    """Up to `limit` resolved or closed incidents like this one that `user` may see (need-to-know,
    incidents/access.py), newest first, each with `review` (or None) and its action items loaded:
    two queries whatever the data size."""
    condition = Q()
    for matcher in _matchers:
        extra = matcher(incident)
        if extra is not None:
            condition |= extra
    if not condition:
        return []
    # pk__in, not DISTINCT: a matcher that joins (alerts) must not show an incident twice, and
    # DISTINCT over every column made PostgreSQL read and sort all of a service's history; this
    # way it walks the resolved_at index (incident_resolved) and stops after `limit`.
    matching = Incident.objects.filter(condition).values("pk")
    incidents = (
        Incident.objects.visible_to(user)
        .filter(pk__in=matching, status__in=[Status.RESOLVED, Status.CLOSED])
        .exclude(pk=incident.pk)
        .select_related("review")
        # What the panel shows, not the long texts of five incidents and their reviews.
        .only(*SHOWN)
        .prefetch_related(
            Prefetch("review__action_items", queryset=ActionItem.objects.select_related("owner").order_by("due_date"))
        )
        .order_by("-resolved_at", "-pk")[:limit]
    )
    return list(incidents)
