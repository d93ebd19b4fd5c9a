"""The alert group panel on the incident page: responders only, plain words, bounded queries."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

from datetime import UTC, datetime, timedelta

from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from incidents import workflow
from incidents.alerts.tests.support import am, integration, load  # noqa: F401
from incidents.models import Incident


def page(client, incident):
    return client.get(f"/incidents/{incident.ref}/").content.decode()


def many_alerts(count: int, first: int = 0) -> dict:
    payload = load("firing")
    template = payload["alerts"][0]
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    payload["alerts"] = [
        {
            **template,
            "fingerprint": f"{n:016x}",
            "startsAt": (start + timedelta(seconds=n)).isoformat(),
            "labels": {**template["labels"], "instance": f"10.0.{n // 250}.{n % 250}:9100"},
        }
        for n in range(first, first + count)
    ]
    return payload


def test_responders_see_the_group_and_why_it_is_not_mitigated(am, clients):
    am.post(load("firing-grouped-2"))
    incident = Incident.objects.get()

    html = page(clients["responder"], incident)

    assert 'id="alert-group"' in html
    assert "2 firing" in html and "0 resolved" in html
    assert "{}:{alertname=&quot;TargetDown&quot;, service=&quot;app&quot;}" in html
    assert "Not mitigated yet: 2 alerts of this group still firing" in html
    assert "instance=127.0.0.1:33793" in html
    assert "&quot;truncatedAlerts&quot;: 0" in html, "the last payload is shown"


def test_after_every_alert_resolved_it_says_why_it_is_mitigated(am, clients):
    am.post(load("firing-grouped-2"))
    am.post(load("resolved-grouped-2"))
    html = page(clients["responder"], Incident.objects.get())
    assert "0 firing" in html and "2 resolved" in html
    assert "Mitigated because Alertmanager reported every alert of this group resolved" in html
    assert "a person confirms" in html


def test_it_says_when_an_alert_fires_again_on_a_mitigated_incident(am, clients, responder):
    am.post(load("firing-grouped-2"))
    half = load("resolved-grouped-2")
    half["alerts"] = half["alerts"][:1]
    am.post(half)
    workflow.mitigate(Incident.objects.get(), by=responder)
    html = page(clients["responder"], Incident.objects.get())
    assert "Marked mitigated, but 1 alert of this group is firing again" in html


def test_viewers_and_reporters_do_not_see_the_panel(am, clients):
    am.post(load("firing"))
    incident = Incident.objects.get()
    for role in ("viewer", "reporter"):
        html = page(clients[role], incident)
        assert incident.title in html
        assert 'id="alert-group"' not in html, role


def test_incidents_from_people_have_no_panel(clients, reporter):
    from incidents.tests.factories import make_incident

    incident = make_incident(by=reporter)
    assert 'id="alert-group"' not in page(clients["responder"], incident)


def test_runbook_links_are_shown_and_only_http_links(am, clients):
    payload = load("firing-grouped-2")
    payload["alerts"][0]["annotations"]["runbook_url"] = "https://runbooks.example.com/target-down"
    payload["alerts"][1]["annotations"]["runbook_url"] = "javascript:alert(1)"
    payload["alerts"][1]["generatorURL"] = "javascript:alert(2)"
    am.post(payload)
    html = page(clients["responder"], Incident.objects.get())
    assert 'href="https://runbooks.example.com/target-down"' in html
    assert "javascript:" not in html.split('id="alert-group"')[1].split("Last payload that changed")[0]


def _queries(client, incident) -> tuple[int, str]:
    # The request resets the query log when it starts: count from an empty log.
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/incidents/{incident.ref}/")
    assert response.status_code == 200
    return len(captured), response.content.decode()


def test_the_page_runs_a_bounded_number_of_queries_however_many_alerts(am, clients, django_assert_max_num_queries):
    client = clients["responder"]
    am.post(many_alerts(3))
    small = Incident.objects.get()
    few, _ = _queries(client, small)

    response = am.post({**many_alerts(600, first=1000), "groupKey": "{}:{big}"})
    assert response.status_code == 200, response.content
    big = Incident.objects.exclude(pk=small.pk).get()
    many, html = _queries(client, big)

    assert few > 5, "the page's queries were counted"
    assert many <= few + 2  # the two counts for "and N more"
    assert "600 firing" in html
    assert "… and 575 more." in html
