"""The one part of a review that may leave the team: the public summary, for the status page.

The status page lives in `incidents` and must not import `reviews`: ReviewsConfig.ready
registers `public_summaries` with `incidents.panels.register_public_summary`.
"""

from dataclasses import dataclass
from datetime import datetime

from reviews.models import Review


@dataclass(frozen=True)
class PublicSummary:
    text: str
    published_at: datetime


def public_summaries(incident_ids) -> dict[int, PublicSummary]:
    """{incident id: its published public summary} for those that have one. One query, plain values only:
    nothing else of the review (sections, authors, action items) can reach a public template."""
    rows = (
        Review.objects.filter(incident_id__in=list(incident_ids), public_summary_published_at__isnull=False)
        .exclude(public_summary="")
        .values_list("incident_id", "public_summary", "public_summary_published_at")
    )
    return {incident_id: PublicSummary(text, at) for incident_id, text, at in rows}
