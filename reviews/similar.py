"""'Similar past incidents': what fixed this last time, ranked by what matters.

Candidates are past (resolved or closed) incidents the person may see that share something
with this one: the service, what a registered matcher adds (`alert_hooks.same_alertname`: an
alert of the same name), or words: of the title and description (PostgreSQL full-text search
over the indexed `search_document`; a word of the title on SQLite), or of a published review's
root cause. The newest CANDIDATES of
them are scored, and the best `limit` shown:

- what registered scorers give (`alert_hooks.alert_points`: the same alert name counts most,
  then each shared label such as the job or instance);
- WORD_POINTS for the share of this incident's words found in the candidate's title,
  description and published review (root cause, what happened), plus one point for a shared
  word of the titles;
- SERVICE_POINTS for the same service.

Ties go to the newest. A fixed number of queries whatever the history's size (3 + one per
matcher and scorer).
"""

from collections.abc import Callable

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q

from incidents.models import Incident, Status
from incidents.textmatch import containing, words
from reviews.models import ActionItem, Review

LIMIT = 5
# The newest candidates scored: enough for a long history of one service, few enough to score fast.
CANDIDATES = 200
WORD_POINTS = 6
SERVICE_POINTS = 1
# Words searched for (the title's first); more only widens the candidates.
QUERY_WORDS = 12
SHOWN = ("title", "resolved_at", "resolution_summary", "service__name", "service__slug", "review__root_cause")

# Each matcher returns a condition on Incident meaning "similar to `incident`", or None.
_matchers: list[Callable[[Incident], Q | None]] = []
# Each scorer gives points to candidates: (incident, candidate ids) -> {id: points} (one query at most).
_scorers: list[Callable[[Incident, list[int]], dict[int, float]]] = []


def register_matcher(matcher: Callable[[Incident], Q | None]) -> Callable[[Incident], Q | None]:
    """Add a similarity rule: a function of the incident giving a condition on Incident, or None."""
    if matcher not in _matchers:
        _matchers.append(matcher)
    return matcher


def register_scorer(scorer: Callable[[Incident, list[int]], dict[int, float]]):
    """Add points to candidates: a function of the incident and candidate ids giving {id: points}."""
    if scorer not in _scorers:
        _scorers.append(scorer)
    return scorer


@register_matcher
def same_service(incident: Incident) -> Q:
    return Q(service_id=incident.service_id)


# --- words ----------------------------------------------------------------------------


def _text_match(incident: Incident) -> Q | None:
    """Past incidents sharing words with this one (textmatch.containing), or whose published
    review's root cause names a word of its title."""
    condition = containing(words(incident.title, incident.description)[:QUERY_WORDS]) or Q()
    # What a published review found (its root cause) names the cause in words of its own.
    in_reviews = Q()
    for word in words(incident.title)[:5]:
        in_reviews |= Q(root_cause__icontains=word)
    if in_reviews:
        reviewed = Review.objects.filter(in_reviews, state=Review.State.PUBLISHED).values("incident_id")
        condition |= Q(pk__in=reviewed)
    return condition or None


# --- ranking --------------------------------------------------------------------------


def scores(incident: Incident, candidates: list[Incident], review_texts: dict[int, str]) -> dict[int, float]:
    """Points of each candidate (see the module's docstring)."""
    ids = [c.pk for c in candidates]
    points = {pk: 0.0 for pk in ids}
    for scorer in _scorers:
        for pk, extra in scorer(incident, ids).items():
            if pk in points:
                points[pk] += extra
    mine = set(words(incident.title, incident.description))
    my_title = set(words(incident.title))
    for candidate in candidates:
        theirs = set(words(candidate.title, candidate.description, review_texts.get(candidate.pk, "")))
        if mine:
            points[candidate.pk] += WORD_POINTS * len(mine & theirs) / len(mine)
        if my_title & set(words(candidate.title)):
            points[candidate.pk] += 1
        if candidate.service_id == incident.service_id:
            points[candidate.pk] += SERVICE_POINTS
    return points


def similar_incidents(incident: Incident, user, limit: int = LIMIT) -> list[Incident]:
    """Up to `limit` resolved or closed incidents most like this one that `user` may see
    (need-to-know, incidents/access.py), best first, each with `review` (or None), its action
    items, `has_runbook` (the service has one) and `score`."""
    condition = Q()
    for matcher in [*_matchers, _text_match]:
        extra = matcher(incident)
        if extra is not None:
            condition |= extra
    if not condition:
        return []
    # pk__in, not DISTINCT: a matcher that joins (alerts) must not count an incident twice.
    matching = Incident.objects.filter(condition).values("pk")
    past = (
        Incident.objects.visible_to(user)
        .filter(pk__in=matching, status__in=[Status.RESOLVED, Status.CLOSED])
        .exclude(pk=incident.pk)
    )
    candidates = list(
        past.only("title", "description", "service_id", "resolved_at").order_by("-resolved_at", "-pk")[:CANDIDATES]
    )
    if not candidates:
        return []
    review_texts = {
        pk: f"{root_cause}\n{summary}"
        for pk, root_cause, summary in Review.objects.filter(
            incident__in=[c.pk for c in candidates], state=Review.State.PUBLISHED
        ).values_list("incident_id", "root_cause", "summary")
    }
    points = scores(incident, candidates, review_texts)
    newest = {c.pk: n for n, c in enumerate(candidates)}  # candidates come newest first
    best = sorted(points, key=lambda pk: (-points[pk], newest[pk]))[:limit]
    shown = {
        found.pk: found
        for found in Incident.objects.filter(pk__in=best)
        .select_related("review", "service")
        # What the panel shows, not the long texts of five incidents and their reviews.
        .only(*SHOWN)
        .annotate(has_runbook=ExpressionWrapper(~Q(service__runbook=""), output_field=BooleanField()))
        .prefetch_related(
            Prefetch("review__action_items", queryset=ActionItem.objects.select_related("owner").order_by("due_date"))
        )
    }
    ranked = [shown[pk] for pk in best if pk in shown]
    for found in ranked:
        found.score = round(points[found.pk], 1)
    return ranked
