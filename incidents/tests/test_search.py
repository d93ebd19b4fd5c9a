"""Searching the incident list: PostgreSQL full-text search through the GIN-indexed generated column
(migration 0009_speed_performance), best match first; a case-insensitive substring on SQLite."""

import pytest
from django.db import connection

from incidents.filters import IncidentFilter
from incidents.models import Incident
from incidents.tests.factories import make_incident

URL = "/incidents/"
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")


def refs(response) -> list[str]:
    return [i.ref for i in response.context["page"].object_list]


@pytest.fixture
def found(reporter):
    return {
        "title": make_incident(by=reporter, title="Deploying the checkout broke payments", description="Rolled back."),
        "description": make_incident(by=reporter, title="Card errors", description="The last deploy of checkout."),
        "other": make_incident(by=reporter, title="Login loop", description="Sessions expire at once."),
    }


@postgres_only
def test_it_is_stemmed_ranked_and_understands_what_people_type(clients, found):
    client = clients["viewer"]
    # "deploys" finds "deploying" and "deploy"; the title match ranks above the description match.
    assert refs(client.get(f"{URL}?q=deploys")) == [found["title"].ref, found["description"].ref]
    assert refs(client.get(f"{URL}?q=checkout+-payments")) == [found["description"].ref]
    assert refs(client.get(f'{URL}?q="login+loop"')) == [found["other"].ref]
    # A chosen sort wins over the rank.
    assert refs(client.get(f"{URL}?q=deploy&sort=oldest")) == [found["title"].ref, found["description"].ref]
    # Unbalanced quotes and operators typed by people are no syntax error.
    for nonsense in ['"deploy+-canary', "):(%26|!", "%27%3B--"]:
        assert client.get(f"{URL}?q={nonsense}").status_code == 200


@postgres_only
def test_a_reference_finds_its_incident_beside_the_text_matches(clients, found):
    assert refs(clients["viewer"].get(f"{URL}?q={found['other'].ref}")) == [found["other"].ref]


@postgres_only
def test_the_gin_index_serves_the_search(found):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'incident_search'")
        (definition,) = cursor.fetchone()
        assert "USING gin (search_document)" in definition
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: may the planner use it at all?
        plan = IncidentFilter({"q": "checkout"}, queryset=Incident.objects.all()).qs.explain()
    assert "incident_search" in plan


@postgres_only
def test_the_search_document_follows_edits(clients, reporter, found):
    from incidents import workflow

    incident = found["other"]
    workflow.edit(incident, by=reporter, version=incident.version, changes={"title": "Kafka lag"})
    assert refs(clients["viewer"].get(f"{URL}?q=kafka")) == [incident.ref]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite fallback")
def test_sqlite_searches_substrings_case_insensitively(clients, found):
    assert refs(clients["viewer"].get(f"{URL}?q=DEPLOY")) == [found["description"].ref, found["title"].ref]


@postgres_only
def test_only_the_newest_matches_are_ranked(clients, found, monkeypatch):
    from incidents import filters

    monkeypatch.setattr(filters, "SEARCH_RANKED", 1)
    # Both match "deploy"; the title match ranks higher but only the newest match is ranked.
    assert refs(clients["viewer"].get(f"{URL}?q=deploy")) == [found["description"].ref]
