import pytest
from django.db import connection

from reviews import search
from reviews.models import Review
from reviews.tests.factories import make_review, resolved_incident

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")


@pytest.fixture
def reviews(reporter, responder):
    deploy = make_review(
        responder=responder, root_cause="A bad deploy of the payments service.", lessons_learned="Canary first."
    )
    disk = make_review(
        responder=responder,
        incident=resolved_incident(by=reporter, responder=responder, title="Disk full"),
        root_cause="Log rotation was switched off.",
        summary="The database disk filled up.",
    )
    return {"deploy": deploy, "disk": disk}


def test_it_finds_reviews_by_any_section(clients, reviews):
    page = clients["viewer"].get("/reviews/", {"q": "rotation"}).content.decode()
    assert "Disk full" in page
    assert "Checkout is down" not in page


def test_an_empty_search_lists_every_review(clients, reviews):
    page = clients["viewer"].get("/reviews/", {"q": "  "}).content.decode()
    assert "Disk full" in page and "Checkout is down" in page


def test_a_search_that_finds_nothing_says_so(clients, reviews):
    page = clients["viewer"].get("/reviews/", {"q": "kubernetes"}).content.decode()
    assert "No reviews match “kubernetes”" in page


@postgres_only
def test_full_text_search_stems_words(reviews):
    found = list(search.search(Review.objects.all(), "deploying"))
    assert found == [reviews["deploy"]]
    assert list(search.search(Review.objects.all(), "rotate logs")) == [reviews["disk"]]


@postgres_only
def test_full_text_search_takes_web_style_queries_without_errors(reviews):
    # Unbalanced quotes and operators typed by people must not raise a syntax error.
    assert list(search.search(Review.objects.all(), '"deploy -canary')) == []
    assert list(search.search(Review.objects.all(), "deploy -rotation")) == [reviews["deploy"]]
    assert list(search.search(Review.objects.all(), "):(&|!")) == []


@postgres_only
def test_the_gin_index_serves_the_search(reviews):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [search.INDEX_NAME])
        (definition,) = cursor.fetchone()
        assert "USING gin" in definition
        # Force the planner's hand on a tiny table: it must be able to use the index for this exact query.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = search.search(Review.objects.all(), "deploying").explain()
    assert search.INDEX_NAME in plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite fallback")
def test_sqlite_falls_back_to_contains(reviews):
    assert list(search.search(Review.objects.all(), "PAYMENTS SERVICE")) == [reviews["deploy"]]
    assert list(search.search(Review.objects.all(), "Disk full")) == [reviews["disk"]]
