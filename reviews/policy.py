"""The close policy: incidents of some severities stay open until their review is published."""

from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html

from incidents.models import Incident, Severity
from incidents.workflow import InvalidTransition
from reviews.models import Review


def review_required(incident: Incident) -> bool:
    """Does closing this incident wait for a published review? (settings.REVIEW_REQUIRED_SEVERITIES)"""
    return incident.severity in settings.REVIEW_REQUIRED_SEVERITIES


def check_close(incident: Incident) -> None:
    """Registered with `incidents.workflow.on_close_check`; runs inside `close`, the incident locked."""
    if not review_required(incident):
        return
    if Review.objects.published().filter(incident=incident).exists():
        return
    url = reverse("reviews:detail", kwargs={"ref": incident.ref})
    # Safe HTML: the message framework keeps it safe, so the page shows a working link.
    raise InvalidTransition(
        format_html(
            '{} is {}: it can be closed once <a href="{}">its post-incident review</a> is published.',
            incident.ref,
            Severity(incident.severity).label,
            url,
        )
    )
