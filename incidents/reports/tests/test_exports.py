"""The incident list's CSV and JSON exports (exactly what the filters select, streamed) and one
incident's JSON and Markdown export, need-to-know included."""

import csv
import io
import json

import pytest
from django.http import StreamingHttpResponse

from incidents import workflow
from incidents.reports.exports import COLUMNS
from incidents.tests.factories import ServiceFactory, make_incident

pytestmark = pytest.mark.django_db


def streamed(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def incidents(reporter, responder, manager):
    search = ServiceFactory(name="Search")
    high = make_incident(by=reporter, title='Checkout, "quoted"', severity="high")
    low = make_incident(by=reporter, title="Slow search", severity="low", service=search)
    workflow.acknowledge(low, by=responder)
    secret = make_incident(by=manager, title="Leak ZQXSECRET", severity="critical")
    workflow.restrict(secret, by=manager, reason="Customer data.")
    return {"high": high, "low": low, "secret": secret}


def test_csv_exports_exactly_what_the_filters_select(clients, incidents):
    rows = list(csv.reader(io.StringIO(streamed(clients["responder"].get("/incidents/export.csv")))))
    assert rows[0] == COLUMNS
    # Newest first, as the list; the restricted one is absent for the responder.
    assert [r[0] for r in rows[1:]] == [incidents["low"].ref, incidents["high"].ref]
    assert rows[2][1] == 'Checkout, "quoted"'
    filtered = clients["responder"].get("/incidents/export.csv?service=search&status=acknowledged")
    rows = list(csv.reader(io.StringIO(streamed(filtered))))
    assert [r[0] for r in rows[1:]] == [incidents["low"].ref]
    listed = clients["responder"].get("/incidents/?service=search&status=acknowledged")
    assert [i.ref for i in listed.context["page"].object_list] == [incidents["low"].ref]
    managers = list(
        csv.reader(io.StringIO(streamed(clients["manager"].get("/incidents/export.csv?severity=critical"))))
    )
    assert [r[0] for r in managers[1:]] == [incidents["secret"].ref]


def test_json_export(clients, incidents):
    rows = json.loads(streamed(clients["viewer"].get("/incidents/export.json?severity=low")))
    assert [r["ref"] for r in rows] == [incidents["low"].ref]
    row = rows[0]
    assert list(row) == COLUMNS
    assert row["service"] == "search" and row["status"] == "acknowledged" and row["acknowledged_at"]
    assert json.loads(streamed(clients["viewer"].get("/incidents/export.json?q=ZQXSECRET"))) == []


def test_a_bad_filter_is_refused_with_the_reason(clients):
    response = clients["responder"].get("/incidents/export.csv?severity=urgent&reported_after=soon")
    assert response.status_code == 400
    assert "severity" in response.content.decode() and "reported_after" in response.content.decode()
    response = clients["responder"].get("/incidents/export.json?severity=urgent")
    assert response.status_code == 400 and "severity" in response.json()["errors"]


def test_the_list_links_its_exports_with_its_filters(clients, incidents):
    page = clients["responder"].get("/incidents/?severity=low").content.decode()
    assert "/incidents/export.csv?severity=low" in page and "/incidents/export.json?severity=low" in page


def test_one_incident_with_its_timeline_and_updates(clients, incidents, responder):
    low = incidents["low"]
    workflow.post_update(low, by=responder, message="Internal: looking at shard 3", public=False)
    workflow.add_note(low, by=responder, text="Reindexing **now**")
    document = clients["viewer"].get(f"/incidents/{low.ref}/export.json").json()
    assert document["ref"] == low.ref and document["service"] == "search"
    assert [e["kind"] for e in document["timeline"]][:2] == ["reported", "status_change"]
    assert any(e["text"] == "Reindexing **now**" for e in document["timeline"])
    assert document["status_updates"][0]["message"] == "Internal: looking at shard 3"
    markdown = clients["viewer"].get(f"/incidents/{low.ref}/export.md")
    assert markdown["Content-Type"].startswith("text/markdown")
    text = markdown.content.decode()
    assert text.startswith(f"# {low.ref}: Slow search")
    assert "(internal, rob): Internal: looking at shard 3" in text and "Reindexing **now**" in text


def test_a_restricted_incident_exports_only_for_those_allowed(clients, incidents):
    secret = incidents["secret"]
    for role in ("reporter", "responder", "viewer"):
        for suffix in ("json", "md"):
            assert clients[role].get(f"/incidents/{secret.ref}/export.{suffix}").status_code == 404
    assert clients["manager"].get(f"/incidents/{secret.ref}/export.md").status_code == 200


def test_the_list_export_streams_in_a_fixed_number_of_queries(clients, incidents, django_assert_max_num_queries):
    for i in range(30):
        make_incident(title=f"More {i}")
    with django_assert_max_num_queries(6):
        response = clients["manager"].get("/incidents/export.csv")
        assert len(streamed(response).splitlines()) == 34
