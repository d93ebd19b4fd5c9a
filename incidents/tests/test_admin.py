from incidents.models import Incident
from incidents.tests.factories import make_incident


def test_manager_finds_incidents_by_reference_and_filters(clients, reporter):
    incident = make_incident(by=reporter, title="Checkout down")
    client = clients["manager"]
    listing = client.get("/admin/incidents/incident/?severity__exact=high").content.decode()
    assert "Checkout down" in listing
    found = client.get(f"/admin/incidents/incident/?q={incident.ref}").content.decode()
    assert f"/admin/incidents/incident/{incident.pk}/change/" in found


def test_admin_edits_go_through_the_workflow_and_keep_status(clients, reporter):
    incident = make_incident(by=reporter)
    page = clients["manager"].get(f"/admin/incidents/incident/{incident.pk}/change/").content.decode()
    assert 'name="status"' not in page  # status changes only through workflow.py
    data = {
        "type": incident.type_id,
        "title": "Renamed in admin",
        "service": incident.service_id,
        "description": incident.description,
        "impact": incident.impact,
        "logs": "",
        "occurred_at_0": incident.occurred_at.strftime("%d/%m/%Y"),
        "occurred_at_1": incident.occurred_at.strftime("%H:%M:%S"),
        "timeline-TOTAL_FORMS": "1",
        "timeline-INITIAL_FORMS": "1",
        "timeline-MIN_NUM_FORMS": "0",
        "timeline-MAX_NUM_FORMS": "1000",
        "timeline-0-id": incident.timeline.get().pk,
        "timeline-0-incident": incident.pk,
        "opened_version": incident.version,
    }
    response = clients["manager"].post(f"/admin/incidents/incident/{incident.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    incident = Incident.objects.get(pk=incident.pk)
    assert incident.title == "Renamed in admin"
    assert incident.timeline.filter(kind="edit").count() == 1

    # The same form again (now stale) is refused and changes nothing.
    stale = clients["manager"].post(f"/admin/incidents/incident/{incident.pk}/change/", {**data, "title": "Again"})
    assert stale.status_code == 200
    assert "was changed since you opened it" in stale.content.decode()
    assert Incident.objects.get(pk=incident.pk).title == "Renamed in admin"

    # Showing it on the status page goes through the workflow too: one visibility entry.
    current = {**data, "opened_version": Incident.objects.get(pk=incident.pk).version, "public": "on"}
    assert clients["manager"].post(f"/admin/incidents/incident/{incident.pk}/change/", current).status_code == 302
    incident = Incident.objects.get(pk=incident.pk)
    assert incident.public
    assert incident.timeline.filter(kind="visibility").count() == 1


def test_nobody_deletes_or_adds_incidents_in_the_admin(clients, reporter):
    incident = make_incident(by=reporter)
    assert clients["manager"].get(f"/admin/incidents/incident/{incident.pk}/delete/").status_code == 403
    assert clients["manager"].get("/admin/incidents/incident/add/").status_code == 403


def test_admin_login_page_sends_people_to_beacons_sign_in(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response["Location"].startswith("/accounts/login/")


def test_giving_the_manager_role_is_enough_for_the_admin(client, nobody):
    from django.contrib.auth.models import Group

    client.force_login(nobody)
    assert client.get("/admin/").status_code == 403
    nobody.groups.add(Group.objects.get(name="Manager"))
    assert client.get("/admin/").status_code == 200
