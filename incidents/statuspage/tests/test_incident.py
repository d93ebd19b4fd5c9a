"""/status/incidents/INC-<n>/: one public incident's public history; anything else is one and the same 404."""

from datetime import timedelta

from django.utils.timezone import now

from incidents import workflow
from incidents.models import StatusUpdate
from incidents.statuspage.tests.data import incident_in
from incidents.tests.factories import ServiceFactory


def test_it_shows_a_public_incident_with_its_public_updates_newest_first(client, responder):
    incident = incident_in("acknowledged", by=responder, title="Search is slow", severity="medium")
    first = workflow.post_update(incident, by=responder, message="Search is slow; we are on it.", public=True)
    workflow.post_update(incident, by=responder, message="Internal: the index is corrupt.", public=False)
    second = workflow.post_update(incident, by=responder, message="A fix is rolling out.", public=True)

    response = client.get(f"/status/incidents/{incident.ref}/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=30"
    shown = response.context["incident"]
    assert [u.pk for u in shown.updates] == [second.pk, first.pk]
    html = response.content.decode()
    assert html.index("A fix is rolling out.") < html.index("Search is slow; we are on it.")
    assert f'id="update-{second.pk}"' in html
    assert "the index is corrupt" not in html
    assert "Search is slow" in html and "Moderate impact" in html and "Investigating" in html


def test_it_shows_when_a_resolved_incident_ended(client, responder):
    incident = incident_in("resolved", by=responder)
    html = client.get(f"/status/incidents/{incident.ref}/").content.decode()
    assert ">Resolved</span>" in html
    assert "Resolved</dt>" in html and "(after 10 min)" in html


def test_it_escapes_update_text(client, responder):
    incident = incident_in("acknowledged", by=responder)
    workflow.post_update(incident, by=responder, message="<script>alert(1)</script>\nline two", public=True)
    html = client.get(f"/status/incidents/{incident.ref}/").content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>line two" in html


def test_it_shows_a_bounded_history(client, responder, monkeypatch):
    from incidents.statuspage import projection as status_page

    monkeypatch.setattr(status_page, "HISTORY_LIMIT", 2)
    incident = incident_in("acknowledged", by=responder)
    for n in range(3):
        workflow.post_update(incident, by=responder, message=f"Update {n}", public=True)
    response = client.get(f"/status/incidents/{incident.ref}/")
    assert [u.message for u in response.context["incident"].updates] == ["Update 2", "Update 1"]
    assert "Only the 2 latest updates are shown." in response.content.decode()


def test_it_says_nothing_is_left_out_when_nothing_is(client, responder, monkeypatch):
    from incidents.statuspage import projection as status_page

    monkeypatch.setattr(status_page, "HISTORY_LIMIT", 2)
    incident = incident_in("acknowledged", by=responder)
    for n in range(2):
        workflow.post_update(incident, by=responder, message=f"Update {n}", public=True)
    assert "latest updates are shown" not in client.get(f"/status/incidents/{incident.ref}/").content.decode()
    fewer = incident_in("acknowledged", by=responder)
    workflow.post_update(fewer, by=responder, message="The only one", public=True)
    assert "latest updates are shown" not in client.get(f"/status/incidents/{fewer.ref}/").content.decode()


def test_missing_internal_and_hidden_service_incidents_get_the_same_404(clients, responder):
    internal = incident_in("acknowledged", by=responder, public=False, title="Internal only title")
    back_office = ServiceFactory(name="Back office", is_public=False)
    hidden = incident_in("acknowledged", by=responder, title="Hidden service title", service=back_office)
    workflow.post_update(hidden, by=responder, message="Public words on a hidden service", public=True)
    missing_ref = f"INC-{hidden.pk + 100}"

    for role in ["anonymous", "manager"]:
        refs = [missing_ref, internal.ref, hidden.ref, "nonsense"]
        answers = [clients[role].get(f"/status/incidents/{ref}/") for ref in refs]
        assert {a.status_code for a in answers} == {404}
        assert len({a.content for a in answers}) == 1, "a 404 must not tell internal incidents from missing ones"
        assert len({a.get("Cache-Control") for a in answers}) == 1
        html = answers[1].content.decode()
        assert "Internal only title" not in html and "Hidden service title" not in html


def test_making_an_incident_internal_again_hides_it(client, responder):
    incident = incident_in("acknowledged", by=responder)
    assert client.get(f"/status/incidents/{incident.ref}/").status_code == 200
    workflow.set_public(incident, by=responder, public=False)
    assert client.get(f"/status/incidents/{incident.ref}/").status_code == 404


def test_the_history_shows_the_200_newest_updates_and_says_so(client, responder):
    """docs/status-page.md: all public updates, the 200 newest when there are more."""
    incident = incident_in("acknowledged", by=responder)
    start = now() - timedelta(days=1)
    StatusUpdate.objects.bulk_create(
        StatusUpdate(incident=incident, message=f"Update {n}", public=True, created_at=start + timedelta(minutes=n))
        for n in range(201)
    )
    response = client.get(f"/status/incidents/{incident.ref}/")
    shown = [u.message for u in response.context["incident"].updates]
    assert len(shown) == 200 and shown[0] == "Update 200" and shown[-1] == "Update 1"
    assert "Only the 200 latest updates are shown." in response.content.decode()
