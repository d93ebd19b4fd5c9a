"""Every way a request to the Alertmanager receiver can be wrong: a clear JSON answer, nothing stored."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import io
import json
from datetime import timedelta

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

from incidents.alerts.tests.support import URL, Poster, am, integration, load, make_integration  # noqa: F401
from incidents.models import Alert, Incident, Integration, TimelineEntry


def nothing_stored():
    return not Incident.objects.exists() and not Alert.objects.exists() and not TimelineEntry.objects.exists()


def assert_refused(response, status, *words):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    message = response.json()["message"]
    for word in words:
        assert word in message, message
    assert nothing_stored()
    return message


# --- tokens ------------------------------------------------------------------------------


def test_it_refuses_a_request_without_a_token(client, db):
    response = client.post(URL, json.dumps(load("firing")), content_type="application/json")
    assert_refused(response, 401, "Authorization: Bearer")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_wrong_token(am):
    assert_refused(am.post(load("firing"), token="bcn_wrong"), 401, "wrong")


def test_it_refuses_another_scheme(am, integration):
    response = am.post(load("firing"), HTTP_AUTHORIZATION=f"Basic {integration[1]}")
    assert_refused(response, 401)


def test_it_refuses_a_disabled_integration(am, integration):
    Integration.objects.filter(pk=integration[0].pk).update(is_active=False)
    assert_refused(am.post(load("firing")), 401, "disabled")


def test_it_refuses_a_token_of_an_api_integration(db):
    _, token = make_integration(name="ci", kind=Integration.Kind.API)
    assert_refused(Poster(token).post(load("firing")), 403, "not an Alertmanager integration")


def test_it_refuses_a_signed_in_session_without_a_token(clients):
    response = clients["manager"].post(URL, json.dumps(load("firing")), content_type="application/json")
    assert_refused(response, 401)


def test_it_answers_get_with_405(am):
    response = am.client.get(URL, HTTP_AUTHORIZATION=f"Bearer {am.token}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "POST" in response.json()["message"]


def test_a_good_token_marks_the_integration_used(am, integration):
    assert integration[0].last_used_at is None
    am.post(load("firing"))
    integration[0].refresh_from_db()
    assert integration[0].last_used_at is not None


def test_payloads_that_change_nothing_mark_the_integration_used_too_at_most_once_a_minute(am, integration):
    # An Alertmanager with nothing firing but its heartbeat is still in use.
    heartbeat = load("firing")
    heartbeat["alerts"][0]["labels"]["alertname"] = "Watchdog"
    assert am.post(heartbeat).json()["message"] == "Heartbeat received."
    first = Integration.objects.get().last_used_at
    assert first is not None
    am.post(heartbeat)
    assert Integration.objects.get().last_used_at == first
    Integration.objects.update(last_used_at=first - timedelta(minutes=5))
    am.post(heartbeat)
    assert Integration.objects.get().last_used_at > first


# --- the body ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b'{"a": 1,}', b"\xff\xfe\xfa"])
def test_it_answers_400_to_a_body_that_is_not_json(am, body):
    assert_refused(am.post(body), 400, "not JSON")


def test_it_answers_400_to_json_nested_too_deeply(am):
    assert_refused(am.post(b"[" * 100_000 + b"]" * 100_000), 400)


def _without(path: str) -> dict:
    payload = load("firing")
    *parents, last = path.split(".")
    target = payload
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[last]
    return payload


def _with(path: str, value) -> dict:
    payload = load("firing")
    *parents, last = path.split(".")
    target = payload
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return payload


@pytest.mark.parametrize(
    "payload, field",
    [
        (["not", "an", "object"], "JSON object"),
        (_without("groupKey"), "groupKey"),
        (_without("alerts"), "alerts"),
        (_with("alerts", []), "alerts"),
        (_with("alerts", "many"), "alerts"),
        (_with("status", "exploded"), "status"),
        (_with("version", "3"), "version"),
        (_with("groupKey", ""), "groupKey"),
        (_with("truncatedAlerts", -1), "truncatedAlerts"),
        (_with("alerts.0.status", "pending"), "alerts.0.status"),
        (_without("alerts.0.fingerprint"), "alerts.0.fingerprint"),
        (_with("alerts.0.startsAt", "yesterday"), "alerts.0.startsAt"),
        (_with("alerts.0.startsAt", "2026-11-27T09:41:42"), "alerts.0.startsAt"),
        (_with("alerts.0.labels", {"severity": 5}), "alerts.0.labels.severity"),
        (_with("alerts.0.annotations", ["summary"]), "alerts.0.annotations"),
        (_with("alerts.0.fingerprint", "f" * 129), "alerts.0.fingerprint"),
        (_with("alerts.0.fingerprint", ""), "alerts.0.fingerprint"),
        (_with("groupKey", "g" * 4001), "groupKey"),
    ],
)
def test_it_answers_422_naming_the_field(am, payload, field):
    response = am.post(payload)
    assert_refused(response, 422, field)
    if isinstance(payload, dict):
        assert any(e["field"].startswith(field) for e in response.json()["errors"])


def test_unknown_alert_status_is_named(am):
    message = assert_refused(am.post(_with("alerts.0.status", "silenced")), 422, "alerts.0.status")
    assert "firing" in message and "resolved" in message


def test_newer_alertmanager_fields_are_accepted(am):
    payload = load("firing")
    payload["notification_reason"] = "new_alerts"
    payload["routeLabels"] = {"team": "web"}
    assert am.post(payload).status_code == 200


# --- size --------------------------------------------------------------------------------


def _big_payload() -> bytes:
    payload = load("firing")
    payload["alerts"][0]["annotations"]["description"] = "x" * (1024 * 1024)
    return json.dumps(payload).encode()


def test_it_answers_413_to_a_body_over_one_mebibyte(am):
    assert_refused(am.post(_big_payload()), 413, "1 MiB")


def test_it_answers_413_from_content_length_before_reading(am):
    # Only the header says it is too big: the body is never read (nor the token checked).
    response = am.client.post(
        URL, b"{}", content_type="application/json", CONTENT_LENGTH=str(2 * 1024 * 1024), HTTP_AUTHORIZATION="x"
    )
    assert_refused(response, 413)


@pytest.mark.parametrize("length", ["many", "1e3", "0x10"])
def test_it_answers_400_to_a_content_length_that_is_not_a_number(am, length):
    assert_refused(am.post(load("firing"), CONTENT_LENGTH=length), 400, "Content-Length")


def _wsgi_post(body: bytes, token: str, *, chunked: bool):
    """Drive the WSGI application as gunicorn does for a chunked body: no length, input terminated."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": URL,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
    }
    if chunked:
        environ["wsgi.input_terminated"] = True
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    else:
        environ["CONTENT_LENGTH"] = str(len(body))
    started = {}
    result = WSGIHandler()(environ, lambda status, headers: started.update(status=status, headers=headers))
    content = b"".join(result)
    return int(started["status"].split()[0]), json.loads(content)


def test_it_answers_413_to_a_chunked_body_over_one_mebibyte(integration, transactional_db):
    status, body = _wsgi_post(_big_payload(), integration[1], chunked=True)
    assert status == 413 and "1 MiB" in body["message"]
    assert nothing_stored()


def test_it_reads_a_chunked_body_under_the_limit(integration, transactional_db):
    status, body = _wsgi_post(json.dumps(load("firing")).encode(), integration[1], chunked=True)
    assert status == 200, body
    assert Incident.objects.count() == 1


# --- characters PostgreSQL cannot store ----------------------------------------------------


def test_nul_characters_are_replaced_not_a_500(am):
    payload = load("firing")
    payload["alerts"][0]["labels"]["instance"] = "host\u0000:9100"
    payload["alerts"][0]["annotations"]["summary"] = "Down\u0000!"
    payload["alerts"][0]["labels"]["bad\u0000key"] = "v"
    payload["commonAnnotations"] = {}

    response = am.post(payload)

    assert response.status_code == 200, response.content
    alert = Alert.objects.get()
    assert alert.labels["instance"] == "host\ufffd:9100"
    assert "bad\ufffdkey" in alert.labels
    assert Incident.objects.get().title == "Down\ufffd!"


def test_a_lone_surrogate_is_replaced_not_a_500(am):
    body = json.dumps(load("firing")).replace('"summary": "Target', '"summary": "\\ud800 Target')
    response = am.post(body)
    assert response.status_code == 200, response.content
    assert Alert.objects.get().annotations["summary"].startswith("\ufffd Target")


# --- the database away: 503, so Alertmanager retries -----------------------------------------


@pytest.mark.postgres_only
def test_a_locked_table_answers_503_with_retry_after_and_the_retry_succeeds(am, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no lock timeout to hit")
    params = connection.get_connection_params()
    locker = psycopg.connect(
        **{k: v for k, v in params.items() if k in {"host", "port", "user", "password", "dbname"}}, autocommit=False
    )
    try:
        locker.execute("LOCK TABLE incidents_alertgroup IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        response = am.post(load("firing"))
        assert response.status_code == 503, response.content
        assert response["Retry-After"].isdigit()
        assert "retry" in response.json()["message"]
    finally:
        locker.rollback()
        locker.close()
    assert nothing_stored()

    assert am.post(load("firing")).status_code == 200
    assert Incident.objects.count() == 1


def test_the_message_names_the_first_problem_and_counts_the_others(am):
    one = assert_refused(am.post(_without("groupKey")), 422, "groupKey")
    assert "more problem" not in one, one
    payload = _without("groupKey")
    del payload["alerts"]
    two = assert_refused(am.post(payload), 422)
    assert two.startswith("groupKey: ") and two.endswith(" (and 1 more problems)"), two
    del payload["version"]
    three = assert_refused(am.post(payload), 422)
    assert three.startswith("version: ") and three.endswith(" (and 2 more problems)"), three
    assert len(am.post(payload).json()["errors"]) == 3


def test_a_delivery_that_loses_the_race_for_its_group_twice_answers_503(am, monkeypatch):
    """Two retries are all it gets (intake.receive): then Alertmanager is told to retry later."""
    from incidents.alerts import intake

    def lose(*args):
        raise intake._Retry

    monkeypatch.setattr(intake, "_apply", lose)
    response = am.post(load("firing"))
    assert response.status_code == 503 and response["Retry-After"]
    assert nothing_stored()


@pytest.mark.parametrize("count, accepted", [(10000, True), (10001, False)])
def test_a_payload_carries_at_most_10000_alerts(count, accepted):
    """More than the 1 MiB body limit lets through HTTP, so parse() is called directly."""
    from incidents.alerts import intake

    alert = {"status": "firing", "labels": {}, "startsAt": "2026-11-27T09:41:42Z", "fingerprint": "f"}
    body = {**load("firing"), "alerts": [alert] * count}
    if accepted:
        assert len(intake.parse(json.dumps(body).encode())[0].alerts) == count
    else:
        with pytest.raises(intake.PayloadError, match="alerts"):
            intake.parse(json.dumps(body).encode())


def test_a_one_character_group_key_is_enough(am):
    assert am.post(_with("groupKey", "x")).status_code == 200


def test_a_group_key_of_4000_characters_is_taken(am):
    assert am.post(_with("groupKey", "g" * 4000)).status_code == 200


def test_a_fingerprint_of_128_characters_is_taken(am):
    assert am.post(_with("alerts.0.fingerprint", "f" * 128)).status_code == 200
    assert Alert.objects.get().fingerprint == "f" * 128


def test_a_raw_surrogate_in_the_bytes_is_replaced_not_a_500(am):
    """Python's JSON reader lets a UTF-8-encoded surrogate through (surrogatepass), unescaped."""
    body = json.dumps(load("firing")).replace('"summary": "Target', '"summary": "\ud800 Target')
    response = am.post(body.encode("utf-8", "surrogatepass"))
    assert response.status_code == 200, response.content
    assert Alert.objects.get().annotations["summary"].startswith("\ufffd Target")


def test_an_escaped_character_that_is_storable_is_kept_as_sent(am):
    body = json.dumps(load("firing")).replace('"summary": "Target', '"summary": "\\u00e9\\\\u0000 Target')
    response = am.post(body)
    assert response.status_code == 200, response.content
    assert Alert.objects.get().annotations["summary"].startswith("\u00e9\\u0000 Target")
