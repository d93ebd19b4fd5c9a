"""The panels reviews adds to the incident page (registered in ReviewsConfig.ready)."""

from collections.abc import Callable

from django.http import HttpRequest

from incidents.models import Incident
from reviews import lifecycle, policy
from reviews.models import Review

# Each returns an outside runbook link for the incident, or None (`alert_hooks.runbook_url`
# reads the `runbook_url` annotation of the incident's alerts).
_runbook_url_sources: list[Callable[[Incident], str | None]] = []


def register_runbook_url(source: Callable[[Incident], str | None]) -> Callable[[Incident], str | None]:
    if source not in _runbook_url_sources:
        _runbook_url_sources.append(source)
    return source


def review_panel(request: HttpRequest, incident: Incident) -> dict | None:
    """The review's state and link, or a "Start review" button once the incident is resolved. One query."""
    review = Review.objects.filter(incident=incident).select_related("approver").first()
    if review is None and incident.status not in lifecycle.REVIEWABLE:
        return None
    return {
        "incident": incident,
        "review": review,
        "may_start": review is None and request.user.has_perm(lifecycle.WRITE),
        "required": policy.review_required(incident),
    }


def runbook_panel(request: HttpRequest, incident: Incident) -> dict:
    """The service's runbook link (no query: the service comes with the incident) and outside runbook links."""
    urls = [url for source in _runbook_url_sources if (url := source(incident))]
    return {"service": incident.service, "outside_urls": urls}


def similar_panel(request: HttpRequest, incident: Incident) -> dict:
    """A placeholder, no query: the ranked list loads when the panel scrolls into view (htmx,
    reviews.views.similar), or as a page of its own without JavaScript."""
    return {"incident": incident}
