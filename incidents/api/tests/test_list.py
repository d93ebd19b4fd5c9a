"""GET /api/incidents: the web list's filters, pages, and a bounded number of queries."""

from datetime import timedelta

import pytest
from django.utils.timezone import now

from incidents import workflow
from incidents.api.tests.support import call, personal_token
from incidents.models import Incident
from incidents.tests.factories import ServiceFactory, make_incident

URL = "/api/incidents"


@pytest.fixture
def token(viewer):
    return personal_token(viewer)


def refs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["ref"] for item in response.json()["items"]]


@pytest.fixture
def several(reporter, responder):
    """Four incidents across two services, severities and statuses (oldest first)."""
    search = ServiceFactory(name="Search")
    low = make_incident(by=reporter, title="Typo on the help page", severity="low")
    critical = make_incident(by=responder, title="Checkout down", severity="critical")
    medium = make_incident(by=reporter, title="Slow search", severity="medium", service=search)
    resolved = make_incident(by=reporter, title="Old outage", severity="high", description="A cache stampede.")
    workflow.acknowledge(critical, by=responder)
    workflow.resolve(resolved, by=responder, summary="Fixed.", confirmed=True)
    return {"low": low, "critical": critical, "medium": medium, "resolved": resolved}


def test_it_lists_newest_first(token, several):
    response = call("get", URL, token)
    body = response.json()
    assert refs(response) == [several[k].ref for k in ["resolved", "medium", "critical", "low"]]
    assert (body["count"], body["limit"], body["offset"], body["next"], body["previous"]) == (4, 25, 0, None, None)
    first = body["items"][0]
    assert first["status"] == "resolved"
    assert first["reporter"] == "rita"
    assert "logs" not in first and "description" not in first


@pytest.mark.parametrize(
    "query, expected",
    [
        ("severity=critical", ["critical"]),
        ("severity=critical&severity=low", ["critical", "low"]),
        ("status=acknowledged", ["critical"]),
        ("status=resolved&status=reported", ["resolved", "medium", "low"]),
        ("open=true", ["medium", "critical", "low"]),
        ("open=false", ["resolved", "medium", "critical", "low"]),
        ("service=search", ["medium"]),
        ("reporter=rob", ["critical"]),
        ("q=stampede", ["resolved"]),
        ("q=CHECKOUT", ["critical"]),
        ("sort=oldest", ["low", "critical", "medium", "resolved"]),
        ("sort=severity", ["critical", "resolved", "medium", "low"]),
        ("severity=high&open=true", []),
    ],
)
def test_it_filters_like_the_web_list(token, several, query, expected):
    assert refs(call("get", f"{URL}?{query}", token)) == [several[k].ref for k in expected]


def test_q_finds_a_reference(token, several):
    ref = several["medium"].ref
    assert refs(call("get", f"{URL}?q={ref}", token)) == [ref]


def test_it_filters_by_report_date(token, several):
    Incident.objects.filter(pk=several["low"].pk).update(reported_at=now() - timedelta(days=10))
    today = now().date()
    assert several["low"].ref not in refs(call("get", f"{URL}?reported_after={today}", token))
    old = (today - timedelta(days=5)).isoformat()
    assert refs(call("get", f"{URL}?reported_before={old}", token)) == [several["low"].ref]


def test_it_agrees_with_the_web_list(token, several, clients):
    page = clients["viewer"].get("/incidents/?severity=critical&severity=low&sort=oldest")
    web = [incident.ref for incident in page.context["page"]]
    assert refs(call("get", f"{URL}?severity=critical&severity=low&sort=oldest", token)) == web


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("severity=urgent", "severity.0", "'critical', 'high', 'medium' or 'low'"),
        ("status=done", "status.0", "'reported'"),
        ("open=perhaps", "open", "Enter true or false."),
        ("service=nope", "service", "no service with this slug"),
        ("reporter=nobody-here", "reporter", "no user with this username"),
        ("reported_after=2026-13-01", "reported_after", "valid date"),
        ("sort=random", "sort", "'newest', 'oldest' or 'severity'"),
        ("limit=0", "limit", "greater than or equal to 1"),
        ("limit=101", "limit", "less than or equal to 100"),
        ("limit=ten", "limit", "valid integer"),
        ("offset=-1", "offset", "greater than or equal to 0"),
        ("offset=99999999999999999999999", "offset", "less than or equal to"),
        ("page=0", "page", "greater than or equal to 1"),
        ("offset=10&page=2", "page", "offset or page, not both"),
        ("sevrity=high", "sevrity", "Unknown query parameter."),
        ("q=" + "x" * 201, "q", "at most 200 characters"),
        ("q=a%00b", "q", "Null characters"),
        ("service=a%00b", "service", "Null characters"),
        # Django decodes a query string that is not UTF-8 with U+FFFD replacements.
        ("reporter=%ED%A0%80", "reporter", "no user with this username"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field(token, several, query, field, message):
    response = call("get", f"{URL}?{query}", token)
    assert response.status_code == 422, response.content
    found = {error["field"]: error["message"] for error in response.json()["detail"]}
    assert message in found[field], found


def test_it_pages_with_limit_and_offset(token, several):
    first = call("get", f"{URL}?limit=3&severity=low&severity=medium&severity=critical&severity=high", token)
    body = first.json()
    assert len(body["items"]) == 3
    assert body["count"] == 4
    assert body["previous"] is None
    assert "offset=3" in body["next"] and "limit=3" in body["next"] and "severity=low" in body["next"]
    second = call("get", body["next"], token).json()
    assert [i["ref"] for i in second["items"]] == [several["low"].ref]
    assert second["next"] is None
    assert "offset=0" in second["previous"]


def test_it_pages_with_page_numbers(token, several):
    assert refs(call("get", f"{URL}?limit=2&page=2", token)) == [several["critical"].ref, several["low"].ref]
    assert refs(call("get", f"{URL}?limit=2&page=3", token)) == []
    assert refs(call("get", f"{URL}?offset=1000000000", token)) == []


def test_listing_300_incidents_takes_a_fixed_number_of_queries(
    token, reporter, responder, django_assert_max_num_queries
):
    services = [ServiceFactory(name=f"Service {n}") for n in range(5)]
    for n in range(300):
        incident = make_incident(by=reporter, title=f"Incident {n}", service=services[n % 5])
        if n % 3 == 0:
            workflow.acknowledge(incident, by=responder)
    call("get", URL, token)  # the first use writes last_used_at; measure the steady state
    # token (1), the viewer's permissions (2), count (1), page (1)
    with django_assert_max_num_queries(5):
        response = call("get", f"{URL}?limit=100", token)
    assert len(response.json()["items"]) == 100
    assert response.json()["count"] == 300
    # plus one query each to check the service and the reporter exist
    with django_assert_max_num_queries(7):
        response = call("get", f"{URL}?limit=100&offset=20&service=service-1&reporter=rita&open=true", token)
    assert response.json()["count"] == 60
    assert len(response.json()["items"]) == 40
    # one incident: plus its type's custom fields (1)
    with django_assert_max_num_queries(6):
        response = call("get", f"{URL}/{incident.ref}", token)
    assert response.status_code == 200
