"""The reference case, with the real programs: the app's target stops, Prometheus fires TargetDown,
Alertmanager posts to Beacon, an incident appears; the target returns, the alert resolves and the
incident is mitigated, waiting for a person to confirm the resolution.

Beacon is read over HTTP while the processes run (the live server shares the test database
connection with its request threads on SQLite); the database directly only after they stop.
"""

import re
import time
import urllib.request

import pytest
from django.test import Client

from incidents.models import Alert, Heartbeat, Incident, Integration
from tests.alertmanager.conftest import BEACON_PORT

pytestmark = [pytest.mark.alertmanager]

BASE = f"http://127.0.0.1:{BEACON_PORT}"


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def get(path: str, cookie: str) -> str:
    request = urllib.request.Request(BASE + path, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def wait_until(condition, timeout: float, what: str, logs):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout} s\n{logs()}")


def test_a_stopped_target_opens_a_critical_incident_and_its_return_mitigates_it(
    beacon, dummy_target, monitoring, processes, responder
):
    integration = Integration(name="e2e", kind=Integration.Kind.ALERTMANAGER)
    token = integration.set_new_token()
    integration.save()
    cookie = session_cookie(responder)
    monitoring(token)

    def open_refs() -> list[str]:
        return sorted(set(re.findall(r'href="/incidents/(INC-\d+)/"', get("/incidents/", cookie))))

    def webhook_posts() -> float:
        lines = get("/metrics", cookie).splitlines()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in lines
            if 'view="alertmanager_webhook"' in line and "_total" in line
        )

    # The whole pipeline works before anything breaks: the Watchdog heartbeat reaches Beacon.
    wait_until(lambda: webhook_posts() >= 1, 30, "the first heartbeat", processes.logs)
    assert open_refs() == [], "nothing is down yet; the heartbeat must not open an incident"

    stopped = time.monotonic()
    dummy_target.stop()
    refs = wait_until(open_refs, 60, "an incident for the stopped target", processes.logs)
    opened_after = time.monotonic() - stopped
    assert len(refs) == 1, refs
    ref = refs[0]
    page = get(f"/incidents/{ref}/", cookie)
    assert ">Critical<" in page
    assert ">app<" in page, "the service comes from the alert's service label"
    assert "from Alertmanager" in page
    assert 'data-kind="alert_fired"' in page

    back = time.monotonic()
    dummy_target.start()

    def mitigated() -> str | None:
        html = get(f"/incidents/{ref}/", cookie)
        return html if ">Mitigated<" in html and 'data-kind="alert_resolved"' in html else None

    page = wait_until(mitigated, 60, "the resolved alert and the mitigated status", processes.logs)
    mitigated_after = time.monotonic() - back
    assert "0 firing" in page and "1 resolved" in page
    print(f"\nopened {opened_after:.1f} s after the target stopped, mitigated {mitigated_after:.1f} s after its return")

    processes.stop_all()
    incident = Incident.objects.get()
    assert incident.severity == Incident.Severity.CRITICAL
    assert incident.service.name == "app"
    assert incident.status == Incident.Status.MITIGATED
    assert incident.resolved_at is None, "only a person resolves"
    assert incident.source_resolved_at is not None
    alert = Alert.objects.get()
    assert alert.status == Alert.Status.RESOLVED and alert.labels["alertname"] == "TargetDown"
    heartbeat = Heartbeat.objects.get(integration=integration)
    assert heartbeat.last_seen_at is not None, "the Watchdog heartbeat reached Beacon"
