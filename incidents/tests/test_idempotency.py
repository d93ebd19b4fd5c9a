"""A double submit lands on the first result: report, note and status update forms carry a
one-time token; POST /api/incidents honours Idempotency-Key."""

import re
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from incidents.api.tests.support import call, personal_token, report_body
from incidents.models import Incident, StatusUpdate, TimelineEntry
from incidents.tests.factories import ServiceFactory, make_incident
from incidents.tests.test_report import valid


def token_in(html: str) -> str:
    return re.search(r'name="idempotency_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def service(db):
    return ServiceFactory(name="Checkout")


def test_a_double_submitted_report_makes_one_incident(clients, service):
    client = clients["reporter"]
    token = token_in(client.get("/incidents/new/?type=downtime").content.decode())
    first = client.post("/incidents/new/", {**valid(service), "idempotency_token": token})
    second = client.post("/incidents/new/", {**valid(service), "idempotency_token": token}, follow=True)
    (incident,) = Incident.objects.all()
    assert first["Location"] == incident.get_absolute_url()
    assert second.redirect_chain[0][0] == incident.get_absolute_url()
    assert f"This report was sent already: it is {incident.ref}." in second.content.decode()


def test_each_form_shown_has_its_own_token_and_a_refused_one_keeps_it(clients, service):
    client = clients["reporter"]
    one = token_in(client.get("/incidents/new/?type=downtime").content.decode())
    two = token_in(client.get("/incidents/new/?type=downtime").content.decode())
    assert one != two
    refused = client.post("/incidents/new/", {**valid(service, title=""), "idempotency_token": one})
    assert refused.status_code == 422 and token_in(refused.content.decode()) == one
    assert client.post("/incidents/new/", {**valid(service), "idempotency_token": one}).status_code == 302
    assert client.post("/incidents/new/", {**valid(service), "idempotency_token": two}).status_code == 302
    assert Incident.objects.count() == 2  # two forms, two reports


def test_the_same_token_from_two_people_is_two_reports(clients, service):
    data = {**valid(service), "idempotency_token": "shared-token-123"}
    clients["reporter"].post("/incidents/new/", data)
    clients["responder"].post("/incidents/new/", data)
    assert Incident.objects.count() == 2


def test_double_submitted_notes_and_updates_land_once(clients, reporter):
    incident = make_incident(by=reporter)
    client = clients["responder"]
    page = client.get(f"/incidents/{incident.ref}/").content.decode()
    tokens = re.findall(r'name="idempotency_token" value="([^"]+)"', page)
    assert len(set(tokens)) == 2  # the note form and the update form
    note, update = tokens
    for _ in range(2):
        client.post(f"/incidents/{incident.ref}/note/", {"text": "Disk full.", "idempotency_token": note})
        client.post(
            f"/incidents/{incident.ref}/note/",
            {"text": "Disk full.", "idempotency_token": note},
            HTTP_HX_REQUEST="true",
        )
        client.post(f"/incidents/{incident.ref}/update/", {"message": "Looking.", "idempotency_token": update})
    assert TimelineEntry.objects.filter(incident=incident, kind="note").count() == 1
    assert StatusUpdate.objects.filter(incident=incident).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_identical_reports_at_the_same_moment_make_one_incident(reporter):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite runs one at a time)")
    service = ServiceFactory(name="Checkout")
    data = {**valid(service), "idempotency_token": "double-click-0001"}
    answers = []
    start = threading.Barrier(2)

    def submit():
        client = Client()
        client.force_login(reporter)
        start.wait()
        try:
            answers.append(client.post("/incidents/new/", data)["Location"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    (incident,) = Incident.objects.all()
    assert answers == [incident.get_absolute_url()] * 2


def test_the_api_honours_idempotency_key(reporter, service):
    token = personal_token(reporter)
    first = call("post", "/api/incidents", token, report_body(), HTTP_IDEMPOTENCY_KEY="c0ffee00-0001")
    again = call("post", "/api/incidents", token, report_body(), HTTP_IDEMPOTENCY_KEY="c0ffee00-0001")
    assert first.status_code == again.status_code == 201
    assert first.json()["ref"] == again.json()["ref"] and first["Location"] == again["Location"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Incident.objects.count() == 1

    other = call("post", "/api/incidents", token, report_body(title="Other"), HTTP_IDEMPOTENCY_KEY="c0ffee00-0001")
    assert other.status_code == 422
    assert other.json()["detail"][0]["field"] == "Idempotency-Key"
    bad = call("post", "/api/incidents", token, report_body(), HTTP_IDEMPOTENCY_KEY="no")
    assert bad.status_code == 422
    assert Incident.objects.count() == 1

    # Without a key every request reports.
    call("post", "/api/incidents", token, report_body())
    call("post", "/api/incidents", token, report_body())
    assert Incident.objects.count() == 3
