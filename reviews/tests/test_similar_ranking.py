"""'What fixed it last time' ranks by what matters: the same alert and labels, the same words,
then the service; restricted incidents only for who may see them."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents import workflow
from incidents.alerts.tests.support import am, integration  # noqa: F401
from incidents.models import Incident, Service
from incidents.tests.factories import make_incident
from reviews import similar
from reviews.tests.factories import make_review

STARTED = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def fire(am, alertname: str, job: str, instance: str, minutes: int) -> Incident:  # noqa: F811
    labels = {"alertname": alertname, "job": job, "instance": instance, "service": "Checkout", "severity": "critical"}
    key = f"{alertname}-{job}-{instance}"
    payload = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", instance="{instance}"}}',
        "status": "firing",
        "receiver": "beacon",
        "groupLabels": {"alertname": alertname, "instance": instance},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{alertname} on {instance}"},
                "startsAt": (STARTED + timedelta(minutes=minutes)).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": key,
            }
        ],
    }
    assert am.post(payload).status_code == 200
    return Incident.objects.get(alert_group__group_key=payload["groupKey"])


def resolve(incident: Incident, responder, summary: str) -> Incident:
    workflow.acknowledge(incident, by=responder)
    return workflow.resolve(incident, by=responder, summary=summary, confirmed=True)


@pytest.fixture
def history(am, reporter, responder):  # noqa: F811
    """Two TargetDown incidents of the checkout-api job, older than everything else; then unrelated
    incidents of the same service (one of them on another alert of the same job), newer."""
    older = resolve(fire(am, "TargetDown", "checkout-api", "10.0.0.1:8080", 0), responder, "Restarted the pod.")
    old = resolve(fire(am, "TargetDown", "checkout-api", "10.0.0.2:8080", 10), responder, "Node drained.")
    checkout = Service.objects.get(name="Checkout")
    latency = resolve(fire(am, "HighLatency", "checkout-api", "10.0.0.3:8080", 20), responder, "Scaled out.")
    unrelated = resolve(
        make_incident(by=reporter, service=checkout, title="Password reset links expired", description="Tokens."),
        responder,
        "Extended the token lifetime.",
    )
    return {"older": older, "old": old, "latency": latency, "unrelated": unrelated}


def test_the_same_alert_of_the_same_job_ranks_above_newer_incidents_of_the_service(am, history, responder):  # noqa: F811
    current = fire(am, "TargetDown", "checkout-api", "10.0.0.9:8080", 60)
    ranked = similar.similar_incidents(current, responder)
    assert [i.pk for i in ranked] == [
        history["old"].pk,  # same alert and job: the newer of the two first
        history["older"].pk,
        history["latency"].pk,  # another alert of the same job
        history["unrelated"].pk,  # the same service only
    ]
    assert ranked[0].score > ranked[2].score > ranked[3].score


def test_words_of_the_title_and_of_published_reviews_count(reporter, responder, manager):
    checkout = Service.objects.create(name="Checkout", slug="checkout")
    search = Service.objects.create(name="Search", slug="search")
    pool = resolve(
        make_incident(by=reporter, service=search, title="Database connections refused", description="Pool full."),
        responder,
        "Raised the pool.",
    )
    reviewed = resolve(
        make_incident(by=reporter, service=search, title="Slow pages", description="Timeouts everywhere."),
        responder,
        "Restarted.",
    )
    make_review(responder=responder, manager=manager, incident=reviewed, state="published", root_cause="Pool exhausted")
    same_service = resolve(
        make_incident(by=reporter, service=checkout, title="Banner typo", description="A typo."), responder, "Fixed."
    )
    current = make_incident(
        by=reporter, service=checkout, title="Connections refused by the database pool", description="Pool refuses."
    )
    ranked = [i.pk for i in similar.similar_incidents(current, responder)]
    # Four of its words in the title and description; the pool named by the published review; the service only.
    assert ranked == [pool.pk, reviewed.pk, same_service.pk]


def test_a_restricted_past_incident_is_ranked_only_for_who_may_see_it(am, history, other_responder, manager):  # noqa: F811
    secret = history["old"]
    workflow.restrict(secret, by=manager, reason="The outage hid a breach.")
    current = fire(am, "TargetDown", "checkout-api", "10.0.0.9:8080", 60)
    assert secret.pk not in [i.pk for i in similar.similar_incidents(current, other_responder)]
    assert similar.similar_incidents(current, manager)[0].pk == secret.pk


def test_it_shows_resolution_root_cause_and_runbook(clients, am, history, responder, manager):  # noqa: F811
    checkout = Service.objects.get(name="Checkout")
    checkout.runbook = "## Restart\n\n`kubectl rollout restart`"
    checkout.save()
    make_review(responder=responder, manager=manager, incident=history["old"], state="published", root_cause="OOM")
    current = fire(am, "TargetDown", "checkout-api", "10.0.0.9:8080", 60)
    page = clients["responder"].get(f"/reviews/{current.ref}/similar/").content.decode()
    first = page[page.index('similar-incident"') :]
    first = first[: first.index('similar-incident"', 10)]
    assert history["old"].ref in first and "Node drained." in first and "OOM" in first
    assert '<a href="/reviews/runbooks/checkout/">Runbook of Checkout</a>' in first
