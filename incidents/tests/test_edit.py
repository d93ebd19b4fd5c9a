from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import workflow
from incidents.models import Incident, TimelineEntry
from incidents.tests.factories import make_incident


def form_data(incident, **overrides):
    data = {
        "type": incident.type.slug,
        "title": incident.title,
        "description": incident.description,
        "impact": incident.impact,
        "logs": incident.logs,
        "occurred_at": timezone.localtime(incident.occurred_at).strftime("%Y-%m-%dT%H:%M"),
        "service": incident.service_id,
        "severity": incident.severity,
        "version": incident.version,
    }
    data.update(overrides)
    return data


@pytest.fixture
def incident(reporter):
    return make_incident(by=reporter)


def test_responder_edits_and_it_is_recorded(clients, incident):
    response = clients["responder"].post(
        f"/incidents/{incident.ref}/edit/", form_data(incident, title="Checkout is slow")
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Checkout is slow"
    assert incident.version == 2
    entry = incident.timeline.get(kind=TimelineEntry.Kind.EDIT)
    assert entry.data == {"changes": {"title": ["Checkout is down", "Checkout is slow"]}, "via": "web"}


def test_saving_unchanged_form_records_nothing(clients, incident):
    clients["responder"].post(f"/incidents/{incident.ref}/edit/", form_data(incident))
    assert incident.timeline.count() == 1


def test_second_save_from_a_stale_form_is_refused_with_current_values(clients, incident):
    stale = form_data(incident)
    first = clients["responder"].post(f"/incidents/{incident.ref}/edit/", {**stale, "title": "First title"})
    assert first.status_code == 302
    second = clients["manager"].post(f"/incidents/{incident.ref}/edit/", {**stale, "title": "Second title"})
    html = second.content.decode()
    assert second.status_code == 409
    assert "changed since you opened it" in html
    assert 'value="First title"' in html  # the current values in the form
    assert "Second title" in html  # what the second person typed, kept to copy from
    incident.refresh_from_db()
    assert incident.title == "First title"
    assert incident.timeline.filter(kind=TimelineEntry.Kind.EDIT).count() == 1


def test_a_severity_change_makes_an_open_form_stale(clients, incident, responder):
    stale = form_data(incident)
    workflow.change_severity(incident, by=responder, severity="critical")
    response = clients["responder"].post(f"/incidents/{incident.ref}/edit/", {**stale, "title": "x"})
    assert response.status_code == 409
    incident.refresh_from_db()
    assert incident.severity == "critical"


def test_bad_input_keeps_everything(clients, incident):
    response = clients["responder"].post(
        f"/incidents/{incident.ref}/edit/",
        form_data(
            incident, title="", occurred_at=(timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        ),
    )
    assert response.status_code == 422
    assert "cannot lie in the future" in response.content.decode()
    assert Incident.objects.get().title == "Checkout is down"


def test_missing_version_is_an_error_not_a_crash(clients, incident):
    data = form_data(incident)
    del data["version"]
    assert clients["responder"].post(f"/incidents/{incident.ref}/edit/", data).status_code == 422


def test_reporter_may_edit_own_report_only_before_acknowledgement(clients, incident, responder):
    ok = clients["reporter"].post(f"/incidents/{incident.ref}/edit/", form_data(incident, impact="Only EU users"))
    assert ok.status_code == 302
    incident.refresh_from_db()
    workflow.acknowledge(incident, by=responder)
    refused = clients["reporter"].post(f"/incidents/{incident.ref}/edit/", form_data(incident, impact="All"))
    assert refused.status_code == 403
    assert Incident.objects.get().impact == "Only EU users"
