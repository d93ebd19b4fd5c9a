"""/status/feed.atom: public updates of public incidents, newest first, bounded."""

import xml.etree.ElementTree as ET

from incidents import workflow
from incidents.statuspage import projection as status_page
from incidents.statuspage.tests.data import incident_in
from incidents.tests.factories import ServiceFactory

ATOM = "{http://www.w3.org/2005/Atom}"


def entries(response) -> list[dict]:
    root = ET.fromstring(response.content)
    return [
        {
            "title": e.findtext(f"{ATOM}title"),
            "summary": e.findtext(f"{ATOM}summary"),
            "link": e.find(f"{ATOM}link").get("href"),
            "id": e.findtext(f"{ATOM}id"),
        }
        for e in root.iter(f"{ATOM}entry")
    ]


def test_it_lists_public_updates_newest_first(client, responder):
    one = incident_in("acknowledged", by=responder, title="Payments fail")
    two = incident_in("reported", by=responder, title="Search is slow")
    workflow.post_update(one, by=responder, message="Looking into payments.", public=True)
    update = workflow.post_update(two, by=responder, message="Search is slow for some.", public=True)
    workflow.post_update(one, by=responder, message="Payments work again.", public=True)

    response = client.get("/status/feed.atom")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    assert response["Cache-Control"] == "public, max-age=30"
    got = entries(response)
    assert [e["summary"] for e in got] == [
        "<p>Payments work again.</p>",
        "<p>Search is slow for some.</p>",
        "<p>Looking into payments.</p>",
    ]
    assert got[1]["title"] == f"{two.ref}: Search is slow"
    assert got[1]["link"] == f"http://testserver/status/incidents/{two.ref}/#update-{update.pk}"
    assert len({e["id"] for e in got}) == 3


def test_it_leaves_out_internal_updates_internal_incidents_and_hidden_services(client, responder):
    public = incident_in("acknowledged", by=responder)
    internal = incident_in("acknowledged", by=responder, public=False)
    hidden = incident_in("acknowledged", by=responder, service=ServiceFactory(name="Back office", is_public=False))
    workflow.post_update(public, by=responder, message="Internal update", public=False)
    workflow.post_update(internal, by=responder, message="Public update on an internal incident", public=True)
    workflow.post_update(hidden, by=responder, message="Public update on a hidden service", public=True)
    workflow.post_update(public, by=responder, message="The one to show", public=True)

    assert [e["summary"] for e in entries(client.get("/status/feed.atom"))] == ["<p>The one to show</p>"]


def test_it_is_bounded(client, responder, monkeypatch):
    monkeypatch.setattr(status_page, "FEED_LIMIT", 3)
    incident = incident_in("acknowledged", by=responder)
    for n in range(5):
        workflow.post_update(incident, by=responder, message=f"Update {n}", public=True)
    got = entries(client.get("/status/feed.atom"))
    assert [e["summary"] for e in got] == ["<p>Update 4</p>", "<p>Update 3</p>", "<p>Update 2</p>"]


def test_update_text_stays_text_in_feed_readers(client, responder):
    incident = incident_in("acknowledged", by=responder)
    workflow.post_update(incident, by=responder, message='<img src=x onerror="alert(1)"> & more', public=True)
    summary = entries(client.get("/status/feed.atom"))[0]["summary"]
    # The summary is HTML (type="html"): the message's markup must arrive escaped inside it.
    assert summary == "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; more</p>"


def test_an_empty_feed_is_valid(client, db):
    response = client.get("/status/feed.atom")
    assert response.status_code == 200
    assert entries(response) == []
