"""What the report accepts: dates in a sane range, texts of bounded size, titles that are one
visible line; and pages that cannot fail on an odd date already stored."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from incidents.api.tests.support import call, personal_token, report_body
from incidents.forms import DESCRIPTION_MAX, IMPACT_MAX, LOGS_MAX
from incidents.models import Incident, Profile
from incidents.tests.factories import ServiceFactory, make_incident
from incidents.tests.test_report import valid

API = "/api/incidents"


@pytest.fixture
def service(db):
    return ServiceFactory(name="Checkout")


def api_errors(response) -> dict[str, str]:
    assert response.status_code == 422, response.content
    return {e["field"]: e["message"] for e in response.json()["detail"]}


@pytest.mark.parametrize("typed", ["0001-01-01T00:00", "1999-12-31T23:59"])
def test_the_form_refuses_a_start_before_2000(clients, service, typed):
    response = clients["reporter"].post("/incidents/new/", valid(service, occurred_at=typed))
    assert response.status_code == 422
    assert "cannot lie before the year 2000" in response.content.decode()
    assert not Incident.objects.exists()


def test_the_api_refuses_a_start_before_2000(reporter, service):
    token = personal_token(reporter)
    response = call("post", API, token, report_body(occurred_at="0001-01-01T00:00:00+00:00"))
    assert "before the year 2000" in api_errors(response)["occurred_at"]
    assert not Incident.objects.exists()


def test_a_stored_year_one_start_shows_in_every_time_zone(clients, reporter, responder):
    incident = make_incident(by=reporter)
    # As an old row, or a direct SQL write, could have it: the form never lets it in now.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE incidents_incident SET occurred_at = %s WHERE id = %s",
            [datetime(1, 1, 1, tzinfo=UTC), incident.pk],
        )
    for zone in ["America/Los_Angeles", "Pacific/Kiritimati", "UTC"]:
        Profile.objects.update_or_create(user=responder, defaults={"time_zone": zone})
        for path in [f"/incidents/{incident.ref}/", f"/incidents/{incident.ref}/edit/", "/incidents/", "/"]:
            assert clients["responder"].get(path).status_code == 200, (zone, path)
    assert clients["responder"].get(f"/api/incidents/{incident.ref}").status_code in (200, 401)


@pytest.mark.parametrize(
    ("field", "limit"), [("description", DESCRIPTION_MAX), ("impact", IMPACT_MAX), ("logs", LOGS_MAX)]
)
def test_long_texts_are_refused_with_their_limit(clients, reporter, service, field, limit):
    page = clients["reporter"].get("/incidents/new/?type=downtime").content.decode()
    assert f'maxlength="{limit}"' in page and f"At most {limit:,} characters" in page
    response = clients["reporter"].post("/incidents/new/", valid(service, **{field: "x" * (limit + 1)}))
    assert response.status_code == 422
    assert f"at most {limit} characters" in response.content.decode()
    ok = clients["reporter"].post("/incidents/new/", valid(service, **{field: "x" * limit}))
    assert ok.status_code == 302

    token = personal_token(reporter)
    refused = call("post", API, token, report_body(**{field: "y" * (limit + 1)}))
    assert f"at most {limit} characters" in api_errors(refused)[field]


def test_the_api_schema_states_the_limits(clients):
    schema = clients["viewer"].get("/api/openapi.json").json()["components"]["schemas"]["IncidentIn"]["properties"]
    assert schema["description"]["maxLength"] == DESCRIPTION_MAX
    assert schema["impact"]["maxLength"] == IMPACT_MAX
    assert schema["logs"]["maxLength"] == LOGS_MAX
    assert schema["title"]["maxLength"] == 200


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("Checkout\r\nBcc: everyone", "one line of text"),
        ("Tab\there", "one line of text"),
        ("Null\x00byte", "Null characters are not allowed"),
        ("\u200b\u200b\u2060", "Enter a title with visible text"),
        ("Invoice \u202egnp.exe", "U+202E"),
        ("Isolate \u2067abc\u2069", "U+2067, U+2069"),
    ],
)
def test_titles_must_be_one_visible_line(clients, reporter, service, title, message):
    response = clients["reporter"].post("/incidents/new/", valid(service, title=title))
    assert response.status_code == 422
    assert message in response.content.decode()
    refused = call("post", API, personal_token(reporter), report_body(title=title))
    assert message in api_errors(refused)["title"]
    assert not Incident.objects.exists()


def test_ordinary_titles_in_any_script_still_pass(clients, service):
    for title in ["Оплата не проходит", "الدفع لا يعمل", "支付失败 👩\u200d💻", "  Padded  "]:
        response = clients["reporter"].post("/incidents/new/", valid(service, title=title))
        assert response.status_code == 302, title
    assert Incident.objects.filter(title="Padded").exists()
