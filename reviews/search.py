"""Searching reviews: PostgreSQL full-text search (GIN-indexed), a plain contains-search on SQLite.

The GIN index (migration 0002, PostgreSQL only) is on exactly `search_vector()`; the
planner uses it only while the query's expression is the same, so change both together
(reviews/tests/test_search.py checks the plan).
"""

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import F, Q, QuerySet

from reviews.models import SECTION_FIELDS

SEARCH_FIELDS = [*SECTION_FIELDS, "public_summary"]
CONFIG = "english"
INDEX_NAME = "review_search"


def search_vector() -> SearchVector:
    return SearchVector(*SEARCH_FIELDS, config=CONFIG)


def search(reviews: QuerySet, text: str) -> QuerySet:
    """Reviews matching `text` in any section: best match first on PostgreSQL (stemmed: "deploying"
    finds "deploy"), newest first on SQLite (case-insensitive substring)."""
    text = text.strip()
    if not text:
        return reviews
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config=CONFIG, search_type="websearch")
        # alias, not annotate: the vector is for the filter and the rank, not for every row the page loads.
        return (
            reviews.alias(document=search_vector())
            .filter(document=query)
            .annotate(rank=SearchRank(F("document"), query))
            .order_by("-rank", "-created_at", "-pk")
        )
    condition = Q(incident__title__icontains=text)
    for field in SEARCH_FIELDS:
        condition |= Q(**{f"{field}__icontains": text})
    return reviews.filter(condition)
