"""Incidents that belong together (IncidentLink) as a person sees them: only the links to
incidents they may see, each read from the incident at hand ("Caused by INC-7")."""

from dataclasses import dataclass

from django.db.models import Q

from incidents.models import Incident, IncidentLink

# Each incident page lists at most this many links (newest first); more is a sign of a mistake.
SHOWN = 50


@dataclass(frozen=True)
class Link:
    pk: int
    label: str
    other: Incident


def visible_links(incident: Incident, user) -> list[Link]:
    """The links of `incident` to incidents `user` may see (2 queries when there are links, 1
    when there are none)."""
    found = list(
        IncidentLink.objects.filter(Q(from_incident=incident) | Q(to_incident=incident))
        .select_related("from_incident__service", "to_incident__service")
        .order_by("-created_at", "-pk")[:SHOWN]
    )
    if not found:
        return []
    others = {link.other(incident.pk).pk for link in found}
    allowed = set(Incident.objects.visible_to(user).filter(pk__in=others).values_list("pk", flat=True))
    return [
        Link(pk=link.pk, label=link.label_from(incident.pk), other=link.other(incident.pk))
        for link in found
        if link.other(incident.pk).pk in allowed
    ]
