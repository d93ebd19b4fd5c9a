"""What real clients found in the machine-facing surface (issue 18), each pinned by a test:
client text used as a %-template, HTML 500s, schema and server disagreeing, HEAD refused."""

import logging
import re

import pytest
from django.test import Client, RequestFactory

from incidents import outage
from incidents.api import endpoints
from incidents.api.schemas import TITLE_PATTERN, VISIBLE_TEXT
from incidents.api.tests.support import call, personal_token, report_body
from incidents.forms import check_title
from incidents.models import CustomField, Incident, IncidentType, StatusUpdate
from incidents.tests.factories import ServiceFactory, make_incident

URL = "/api/incidents"


@pytest.fixture
def token(db, manager):
    ServiceFactory(name="Checkout", slug="checkout")
    return personal_token(manager)


def _errors(response) -> dict[str, str]:
    assert response["Content-Type"] == "application/json"
    return {error["field"]: error["message"] for error in response.json()["detail"]}


# --- client text is never a %-template ------------------------------------------------------


@pytest.mark.parametrize("service", ["100%", "%(value)s", "%s", "50% off %d", "%"])
def test_a_percent_sign_in_an_unknown_service_is_a_422_that_quotes_it(token, service):
    response = call("post", URL, token, report_body(service=service))
    assert response.status_code == 422
    assert _errors(response) == {"service": f"There is no service with the slug “{service}”."}
    assert not Incident.objects.exists()


def test_a_percent_sign_in_a_choice_stays_literal_in_its_error(token):
    security = IncidentType.objects.get(slug="security")
    CustomField.objects.create(type=security, label="Share", kind=CustomField.Kind.CHOICE, choices="100%\n50%")
    response = call("post", URL, token, report_body(type="security", fields={"share": "%(value)s"}))
    assert response.status_code == 422
    assert _errors(response) == {"fields.share": "Choose one of: 100%, 50%."}


# --- every error is JSON ----------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_under_api_is_a_json_500_without_internals(token, monkeypatch, settings, caplog, debug):
    settings.DEBUG = debug  # in DEBUG django-ninja would answer the traceback as text

    def broken(request, ref):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(endpoints, "_full", broken)
    incident = make_incident()
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = call("get", f"{URL}/{incident.ref}", token)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": outage.FAILED}
    assert b"secret" not in response.content and b"Traceback" not in response.content
    # Logged as Django logs a failed request (so it reaches the same handlers and ADMINS).
    logged = [r for r in caplog.records if r.name == "django.request" and r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info[0] is RuntimeError


def test_a_database_outage_under_api_is_still_a_503_with_retry_after(token, monkeypatch):
    from django.db import OperationalError

    def down(request, ref):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(endpoints, "_full", down)
    response = call("get", f"{URL}/{make_incident().ref}", token)
    assert response.status_code == 503
    assert response["Retry-After"] == str(outage.RETRY_AFTER_SECONDS)
    assert response.json() == {"detail": outage.MESSAGE}


def test_the_500_handler_answers_json_for_machines_and_the_page_for_people():
    factory = RequestFactory()
    for path in ["/api/incidents", "/integrations/alertmanager/"]:
        try:
            raise RuntimeError("in a middleware")
        except RuntimeError:
            response = outage.server_error(factory.get(path))
        assert response.status_code == 500
        assert response["Content-Type"] == "application/json"
        assert response.content.decode().count("in a middleware") == 0
    try:
        raise RuntimeError("in a page")
    except RuntimeError:
        response = outage.server_error(factory.get("/incidents/"))
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


def test_a_host_django_refuses_is_a_json_400_under_api(db):
    response = Client(raise_request_exception=False).get(URL, HTTP_HOST="evil.example.org")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "Host" in response.json()["detail"]
    page = Client(raise_request_exception=False).get("/", HTTP_HOST="evil.example.org")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


def test_a_method_an_endpoint_does_not_take_is_a_json_405(token):
    for method, url in [("delete", URL), ("put", f"{URL}/INC-1"), ("get", f"{URL}/INC-1/acknowledge")]:
        response = getattr(Client(), method)(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 405, (method, url)
        assert response["Content-Type"] == "application/json"
        assert response.json()["detail"].startswith(f"{method.upper()} is not allowed here; use ")
        assert response["Allow"]


# --- the schema says what the server accepts ------------------------------------------------


def _schema():
    return Client().get("/api/openapi.json").json()


REQUIRED_TEXTS = [
    ("IncidentIn", "title", 200),
    ("IncidentIn", "description", 20_000),
    ("IncidentIn", "impact", 5_000),
    ("UpdateIn", "message", 5_000),
    ("ResolveActionIn", "summary", 20_000),
]


@pytest.mark.parametrize("component, field, limit", REQUIRED_TEXTS)
def test_required_texts_say_min_length_pattern_and_max_length(db, component, field, limit):
    prop = _schema()["components"]["schemas"][component]["properties"][field]
    assert prop["minLength"] == 1
    assert prop["maxLength"] == limit
    assert re.search(prop["pattern"], "x") and not re.search(prop["pattern"], " \t\n ")
    assert not re.search(prop["pattern"], "a\x00b")


@pytest.mark.parametrize("blank", ["", "   ", "\n\t", "\u2003"])
@pytest.mark.parametrize("field", ["title", "description", "impact"])
def test_blank_report_texts_are_refused(token, field, blank):
    response = call("post", URL, token, report_body(**{field: blank}))
    assert response.status_code == 422
    assert field in _errors(response)
    assert not re.search(VISIBLE_TEXT, blank)


@pytest.fixture
def incident(token, reporter):
    return make_incident(by=reporter)


def test_the_status_update_limit_counts_every_character_sent(token, incident):
    url = f"{URL}/{incident.ref}/updates"
    # 5,001 characters sent, 5,000 once stripped: refused, as the schema's maxLength says.
    response = call("post", url, token, {"message": " " + "x" * 5000})
    assert response.status_code == 422
    assert _errors(response) == {"message": "Ensure this value has at most 5000 characters (it has 5001)."}
    assert not StatusUpdate.objects.exists()
    response = call("post", url, token, {"message": "  " + "x" * 4996 + "  "})
    assert response.status_code == 201
    assert StatusUpdate.objects.get().message == "x" * 4996  # stored stripped
    for blank in ["", "   "]:
        response = call("post", url, token, {"message": blank})
        assert response.status_code == 422 and "message" in _errors(response)


def test_a_title_over_the_limit_with_surrounding_spaces_is_refused(token):
    response = call("post", URL, token, report_body(title=" " + "x" * 200))
    assert response.status_code == 422
    assert "at most 200 characters" in _errors(response)["title"]


@pytest.mark.parametrize(
    "title",
    [
        "Checkout returns 500",
        "  padded  ",
        "\tleading tab",
        "inner\ttab",
        "two\nlines",
        "\u202egnp.exe",
        "\u200b\u200b",
        "\u200bzero-width first",
        "soft\u00adhyphen",
        "x",
        "ümlaut ✓ 日本",
        "bell\x07",
        "\x85next line",
        "line\u2028separator",
        " ",
    ],
)
def test_the_title_pattern_agrees_with_the_report_forms_check(title):
    """The schema's pattern is the title check written as a regular expression."""
    try:
        check_title(title)
        accepted = bool(title.strip())
    except Exception:  # noqa: BLE001 - a ValidationError: refused
        accepted = False
    assert bool(re.search(TITLE_PATTERN, title)) == accepted, title


@pytest.mark.parametrize("value", ["0", "1700000000", "1.5", "2026-3-1", "01/03/2026", "2026-03-01T00:00"])
def test_report_dates_are_iso_days_only(token, value):
    response = call("get", f"{URL}?reported_before={value}", token)
    assert response.status_code == 422
    assert _errors(response) == {"reported_before": "Enter a day like 2026-03-01."}
    assert call("get", f"{URL}?reported_before=2026-03-01", token).status_code == 200


@pytest.mark.parametrize("value", [0, 1700000000, "1700000000", True, "2026-03-01"])
def test_occurred_at_is_an_iso_string_not_a_number(token, value):
    response = call("post", URL, token, report_body(occurred_at=value))
    assert response.status_code == 422
    assert "occurred_at" in _errors(response)
    assert not Incident.objects.exists()


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_booleans_in_bodies_are_json_booleans(token, incident, value):
    assert call("post", URL, token, report_body(restricted=value)).status_code == 422
    assert call("post", f"{URL}/{incident.ref}/updates", token, {"message": "x", "public": value}).status_code == 422
    response = call("post", f"{URL}/{incident.ref}/resolve", token, {"summary": "x", "confirmed": value})
    assert response.status_code == 422
    assert not Incident.objects.exclude(pk=incident.pk).exists() and not StatusUpdate.objects.exists()


@pytest.mark.parametrize("value", ["1", "yes", "on", "True", ""])
def test_open_in_a_query_is_true_or_false(token, value):
    response = call("get", f"{URL}?open={value}", token)
    assert response.status_code == 422 and "open" in _errors(response)


def test_offset_with_page_is_refused_and_the_schema_says_so(token):
    response = call("get", f"{URL}?offset=0&page=1", token)
    assert response.status_code == 422
    assert _errors(response) == {"page": "Use offset or page, not both."}
    parameters = {p["name"]: p for p in _schema()["paths"]["/api/incidents"]["get"]["parameters"]}
    for name in ["offset", "page"]:
        assert "not both" in parameters[name]["description"]


def test_the_search_limit_counts_every_character_sent_and_the_schema_says_it(token):
    parameters = {p["name"]: p for p in _schema()["paths"]["/api/incidents"]["get"]["parameters"]}
    assert parameters["q"]["schema"]["maxLength"] == 200
    response = call("get", f"{URL}?q=%20{'x' * 200}", token)
    assert response.status_code == 422
    assert _errors(response) == {"q": "Ensure this value has at most 200 characters (it has 201)."}
    assert call("get", f"{URL}?q={'x' * 200}", token).status_code == 200


def test_the_idempotency_key_header_is_documented_as_checked(token):
    parameters = _schema()["paths"]["/api/incidents"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"] is False
    pattern = header["schema"]["pattern"]
    for key, accepted in [("0b7c5d2e-1f4a", True), ("short", False), ("has space 123", False), ("x" * 101, False)]:
        assert bool(re.search(pattern, key)) == accepted, key
        response = call("post", URL, token, report_body(), HTTP_IDEMPOTENCY_KEY=key)
        assert (response.status_code == 201) == accepted, (key, response.content)


def test_every_operation_documents_json_errors_500_and_503(db):
    for path, operations in _schema()["paths"].items():
        for method, operation in operations.items():
            for status in ["401", "403", "404", "422", "500", "503"]:
                answer = operation["responses"].get(status)
                assert answer, (method, path, status)
                assert list(answer["content"]) == ["application/json"], (method, path, status)


# --- HEAD, as load balancers probe ----------------------------------------------------------


@pytest.mark.parametrize("url", ["/healthz", "/metrics"])
def test_head_answers_like_get_without_a_body(db, url):
    get, head = Client().get(url), Client().head(url)
    assert get.status_code == head.status_code == 200
    assert head["Content-Type"] == get["Content-Type"]
    assert head.content == b""


def test_head_on_metrics_needs_the_token_as_get_does(db, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert Client().head("/metrics").status_code == 401
    assert Client().head("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


@pytest.mark.parametrize("url", ["/healthz", "/metrics"])
def test_other_methods_are_still_refused(db, url):
    assert Client().post(url).status_code == 405
