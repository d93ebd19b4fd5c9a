"""/reports/ and /reports/export.csv as each role gets them: what they show, bad filters, the
query budget at a small and a larger data set."""

import csv
import io

import pytest
import time_machine

from incidents.reports.tests.data import NOW, ZONE, build
from incidents.tests.factories import ServiceFactory, make_incident

pytestmark = pytest.mark.django_db

# Sign-in, permissions, the filter form's choices, the trend (1 query per granularity on PostgreSQL,
# 7 on SQLite), the services (5), budgets (2), "some hidden" (1), the learning loop (2): the same
# whatever the number of incidents.
MAX_QUERIES = 32


@pytest.fixture
def world(users, settings):
    settings.TIME_ZONE = ZONE
    with time_machine.travel(NOW, tick=False):
        yield build(users)


def body(response) -> str:
    return response.content.decode()


def test_managers_and_responders_see_everything(world, clients):
    response = clients["responder"].get("/reports/")
    assert response.status_code == 200
    page = body(response)
    for part in ("Per month", "Per week", "Per service", "Learning loop", "Report → acknowledged", "Start → resolved"):
        assert part in page, part
    assert "<svg" in page and 'aria-hidden="true"' in page
    # Every figure leads to the list of the incidents behind it.
    assert "/incidents/?reported_after=2026-01-01&amp;reported_before=2026-01-31" in page
    # January: A, B, C; the 20-minute median to acknowledge, two of three in time.
    january = response.context["months"]["rows"][8]
    assert january["label"] == "Jan 2026" and january["row"].count == 3
    assert january["durations"][0] == ("18 min", "20 min")
    assert january["in_target"] == "67%"
    # The responder may not see the restricted incident: the page says some are hidden.
    assert "Some restricted incidents" in page and "ZQXSECRET" not in page
    manager = body(clients["manager"].get("/reports/"))
    assert "Some restricted incidents" not in manager


@pytest.mark.parametrize("role", ["viewer", "reporter"])
def test_viewers_and_reporters_see_the_service_level_part_only(world, clients, role):
    response = clients[role].get("/reports/")
    assert response.status_code == 200
    page = body(response)
    assert "Per service" in page and "Checkout" in page
    for part in ("Per month", "Per week", "Learning loop", "Repeat offenders</th>", "Top alerts"):
        assert part not in page, part
    assert "months" not in response.context
    assert clients[role].get("/reports/export.csv?table=months").status_code == 403
    assert clients[role].get("/reports/export.csv").status_code == 200


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("severity=urgent", "severity", "Choose critical, high, medium or low."),
        ("service=no-such", "service", "No service has this slug."),
        ("type=nope", "type", "No incident type has this slug."),
        ("source=fax", "source", "Choose web, alertmanager, api or slack."),
    ],
)
def test_a_bad_filter_is_a_clear_error(clients, query, field, message):
    response = clients["manager"].get(f"/reports/?{query}")
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message in body(response) and "cannot be used" in body(response)
    export = clients["manager"].get(f"/reports/export.csv?{query}")
    assert export.status_code == 400 and message in body(export)
    assert clients["manager"].get("/reports/export.csv?table=years").status_code == 400


def test_filters_apply_to_the_page(world, clients):
    response = clients["manager"].get("/reports/?service=search&severity=low")
    assert response.status_code == 200
    rows = response.context["services"]
    assert [(r.service.name, r.count) for r in rows] == [("Search", 1)]
    assert sum(r["row"].count for r in response.context["months"]["rows"]) == 1
    assert "service=search&amp;severity=low" in body(response)


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_export(world, clients):
    services = read_csv(clients["responder"].get("/reports/export.csv"))
    assert services[0][:5] == ["service", "incidents", "impact_minutes", "top_alerts", "repeats"]
    assert services[0][5:] == [
        "objective_percent",
        "budget_left_share_this_month",
        "availability_percent_this_month",
        "repeat_alerts",
    ]
    assert services[1][:3] == ["checkout", "5", "370"] and services[1][4] == "Payment errors=1"
    assert services[2][:3] == ["search", "2", "120"]
    months = read_csv(clients["responder"].get("/reports/export.csv?table=months"))
    january = next(r for r in months if r[0] == "Jan 2026")
    header = months[0]
    assert january[header.index("incidents")] == "3"
    assert january[header.index("median_ack_reported_minutes")] == "20.0"
    assert january[header.index("acknowledged_in_target_share")] == "0.6667"
    weeks = read_csv(clients["manager"].get("/reports/export.csv?table=weeks&service=search"))
    assert sum(int(r[2]) for r in weeks[1:]) == 2


def _more_incidents(count: int, users) -> None:
    others = [ServiceFactory(name=f"Extra {i}") for i in range(3)]
    for i in range(count):
        make_incident(by=users["reporter"], service=others[i % 3], title=f"Extra {i % 7}")


@pytest.mark.parametrize("role", ["manager", "responder", "viewer"])
def test_the_page_runs_a_bounded_number_of_queries(world, users, clients, role, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES):
        assert clients[role].get("/reports/").status_code == 200
    _more_incidents(40, users)
    with django_assert_max_num_queries(MAX_QUERIES):
        assert clients[role].get("/reports/").status_code == 200


def test_the_incident_list_filters_by_source_as_the_reports_link_it(world, clients):
    from incidents.models import Incident

    Incident.objects.filter(pk=world["E"].pk).update(source=Incident.Source.API)
    listed = clients["manager"].get("/incidents/?source=api")
    assert [i.pk for i in listed.context["page"].object_list] == [world["E"].pk]
    bad = clients["manager"].get("/incidents/?source=fax")
    assert bad.status_code == 200 and "source" in bad.context["filter"].form.errors
