"""Incidents that belong together (IncidentLink) as a person sees them: only the links to
incidents they may see, each read from the incident at hand ("Caused by INC-7")."""

from dataclasses import dataclass

from django.db.models import Q

from incidents.models import Incident, IncidentLink, access_condition

# Each incident page lists at most this many links (newest first); more is a sign of a mistake.
SHOWN = 50
# What a link shows of the other incident: its reference (from the id), title and status.
OTHER_FIELDS = ("title", "status")


@dataclass(frozen=True)
class Link:
    pk: int
    label: str
    other: Incident


def visible_links(incident: Incident, user) -> list[Link]:
    """The newest links of `incident` to incidents `user` may see: one query, the other side's
    visibility checked in it, and only what a link shows (reference, title, status) read."""
    found = (
        IncidentLink.objects.filter(
            Q(from_incident=incident) & access_condition(user, "to_incident__")
            | Q(to_incident=incident) & access_condition(user, "from_incident__")
        )
        .select_related("from_incident", "to_incident")
        .only(*(f"{side}__{name}" for side in ("from_incident", "to_incident") for name in OTHER_FIELDS), "kind")
        .order_by("-created_at", "-pk")[:SHOWN]
    )
    return [Link(pk=link.pk, label=link.label_from(incident.pk), other=link.other(incident.pk)) for link in found]
