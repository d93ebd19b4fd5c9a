"""Do two incidents talk about the same thing? Plain word matching, the same on every database:
the significant words of a text, crudely stemmed. Used to suggest open incidents while someone
reports (`open_matches`) and to rank similar past incidents (reviews/similar.py)."""

import re

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

from incidents.models import Incident

STOPWORDS = frozenset(
    "a about after again all an and are as at be been before but by can cannot could did do does for from had has "
    "have how if in into is it its no not of on or our out over so some than that the their them then there these "
    "they this to up was we were what when where which while who why will with within without you your".split()
)
_WORD = re.compile(r"[a-z0-9]+")
# Open incidents offered while reporting, at most; and how many of the newest are compared.
SUGGESTED = 5
COMPARED = 100


def stem(word: str) -> str:
    """A crude English stem, the same on every database: "timeouts", "timed" → "time"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def words(*texts: str) -> list[str]:
    """The significant words of `texts`, stemmed, each once, in order."""
    found = []
    for text in texts:
        for word in _WORD.findall((text or "").lower()):
            if len(word) >= 3 and word not in STOPWORDS:
                found.append(stem(word))
    return list(dict.fromkeys(found))


def containing(wanted: list[str]) -> Q | None:
    """Incidents whose title or description holds one of `wanted` (PostgreSQL: full-text search on
    the indexed document of migration 0009; SQLite: a title containing the word)."""
    if not wanted:
        return None
    if connection.vendor == "postgresql":
        query = SearchQuery(wanted[0], config="english")
        for word in wanted[1:]:
            query |= SearchQuery(word, config="english")
        document = RawSQL("search_document", [], SearchVectorField())
        return Q(pk__in=Incident.objects.alias(document=document).filter(document=query).values("pk"))
    condition = Q()
    for word in wanted[:5]:
        condition |= Q(title__icontains=word)
    return condition


def open_matches(user, title: str, service_id: int | None, limit: int = SUGGESTED) -> list[Incident]:
    """Open incidents `user` may see that look like the one being reported: the most words of
    `title` in common first, the same service breaking ties, then the newest. With no title yet,
    the newest open incidents of the service (of any service when none is chosen). One query."""
    wanted = words(title)[:12]
    condition = Q(service_id=service_id) if service_id else Q()
    if (text := containing(wanted)) is not None:
        condition = condition | text if service_id else text
    # Nothing typed, no service chosen: the newest open incidents (what is going on right now).
    candidates = list(
        Incident.objects.visible_to(user)
        .open()
        .filter(condition)
        .select_related("service")
        .only("title", "description", "severity", "status", "reported_at", "service__name", "service_id")
        .order_by("-reported_at", "-pk")[:COMPARED]
    )
    mine = set(wanted)

    def score(incident: Incident) -> float:
        if not mine:
            return float(incident.service_id == service_id)
        shared = len(mine & set(words(incident.title, incident.description))) / len(mine)
        in_title = len(mine & set(words(incident.title))) / len(mine)  # a title says more than a description
        return shared * 6 + in_title * 2 + (incident.service_id == service_id)

    scored = [(score(incident), n, incident) for n, incident in enumerate(candidates)]
    if mine or service_id:
        scored = [entry for entry in scored if entry[0] > 0]
    return [incident for _, _, incident in sorted(scored, key=lambda entry: (-entry[0], entry[1]))[:limit]]
