"""POST /integrations/alertmanager/ with the payloads captured from a real Alertmanager."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

from datetime import UTC, datetime, timedelta
from hashlib import sha1

import pytest
import time_machine
from django.db import connection, transaction

from incidents import workflow
from incidents.alerts.intake import _current_group
from incidents.alerts.tests.support import am, integration, load, plan_setting, variant  # noqa: F401
from incidents.models import Alert, AlertGroup, Incident, IncidentType, Integration, Service, TimelineEntry, plain
from incidents.tests.factories import ServiceFactory

Kind = TimelineEntry.Kind


def kinds(incident):
    return list(incident.timeline.values_list("kind", flat=True))


def only_incident() -> Incident:
    assert Incident.objects.count() == 1
    return Incident.objects.get()


# --- the captured payloads ---------------------------------------------------------------


def test_it_opens_an_incident_from_the_firing_payload(am):
    response = am.post(load("firing"))

    assert response.status_code == 200, response.content
    incident = only_incident()
    body = response.json()
    assert body["incident"] == incident.ref and body["created"] is True
    assert incident.ref in body["message"]
    assert incident.title == "Target 127.0.0.1:59665 (job app) is down"
    assert incident.description == "Prometheus failed to scrape 127.0.0.1:59665 of job app for more than 2s (up = 0)."
    assert incident.severity == Incident.Severity.CRITICAL
    assert incident.service.name == "app"
    assert incident.source == Incident.Source.ALERTMANAGER
    assert incident.status == Incident.Status.REPORTED
    assert incident.reporter is None
    assert incident.occurred_at == datetime(2026, 11, 27, 9, 41, 42, 742000, tzinfo=UTC)
    assert "instance=127.0.0.1:59665" in incident.logs
    assert "http://127.0.0.1:51609/graph?g0.expr=" in incident.logs
    assert kinds(incident) == [Kind.REPORTED, Kind.ALERT_FIRED]
    fired = incident.timeline.get(kind=Kind.ALERT_FIRED)
    assert fired.author is None
    assert fired.data["initial"] is True
    assert fired.data["alerts"][0]["fingerprint"] == "8a43b5d2d8b1b090"
    alert = Alert.objects.get()
    assert (alert.fingerprint, alert.status, alert.ends_at) == ("8a43b5d2d8b1b090", "firing", None)
    assert alert.labels["job"] == "app"
    assert alert.annotations["summary"] == incident.title
    assert alert.generator_url.startswith("http://127.0.0.1:51609/graph")
    assert alert.group.incident == incident
    assert alert.group.group_key == '{}:{alertname="TargetDown", service="app"}'


def test_the_resolved_payload_mitigates_and_never_resolves(am):
    am.post(load("firing"))

    response = am.post(load("resolved"))

    assert response.status_code == 200, response.content
    incident = only_incident()
    assert incident.status == Incident.Status.MITIGATED
    assert incident.resolved_at is None
    assert incident.source_resolved_at == datetime(2026, 11, 27, 9, 41, 45, 742000, tzinfo=UTC)
    assert kinds(incident) == [Kind.REPORTED, Kind.ALERT_FIRED, Kind.ALERT_RESOLVED, Kind.STATUS_CHANGE]
    entry = incident.timeline.get(kind=Kind.ALERT_RESOLVED)
    assert entry.data["ends_at"] == "2026-11-27T09:41:45.742000+00:00"
    assert entry.data["fingerprint"] == "8a43b5d2d8b1b090"
    change = incident.timeline.get(kind=Kind.STATUS_CHANGE)
    assert (change.author, change.data["old"], change.data["new"]) == (None, "reported", "mitigated")
    assert "confirm" in change.text
    assert Alert.objects.get().status == Alert.Status.RESOLVED


def test_two_alerts_of_one_group_make_one_incident_mitigated_when_both_resolve(am):
    am.post(load("firing-grouped-2"))
    incident = only_incident()
    assert incident.alert_group.alerts.count() == 2
    assert incident.title == "Target 127.0.0.1:33793 (job app) is down (+1 more)"
    assert incident.timeline.get(kind=Kind.ALERT_FIRED).data["count"] == 2

    half = load("resolved-grouped-2")
    half["alerts"] = half["alerts"][:1]
    am.post(half)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.REPORTED, "one alert still fires"

    am.post(load("resolved-grouped-2"))
    incident.refresh_from_db()
    assert incident.status == Incident.Status.MITIGATED
    assert incident.timeline.filter(kind=Kind.ALERT_RESOLVED).count() == 2
    assert Incident.objects.count() == 1


def test_a_new_alert_that_arrives_already_resolved_leaves_a_mitigated_incident_mitigated(am):
    am.post(load("firing"))
    am.post(load("resolved"))
    incident = only_incident()
    assert incident.status == Incident.Status.MITIGATED
    late = _second_alert(load("resolved"))  # a new fingerprint, resolved before Beacon saw it fire
    changes = incident.timeline.filter(kind=Kind.STATUS_CHANGE).count()

    assert am.post(late).status_code == 200

    incident.refresh_from_db()
    assert incident.status == Incident.Status.MITIGATED
    assert incident.timeline.filter(kind=Kind.STATUS_CHANGE).count() == changes  # never active again
    assert incident.alert_group.alerts.count() == 2 and Incident.objects.count() == 1


def test_a_resolved_payload_for_a_group_never_seen_opens_it_already_mitigated(am):
    response = am.post(load("resolved"))

    assert response.status_code == 200
    incident = only_incident()
    assert incident.status == Incident.Status.MITIGATED
    assert incident.source_resolved_at == datetime(2026, 11, 27, 9, 41, 45, 742000, tzinfo=UTC)
    assert kinds(incident) == [Kind.REPORTED, Kind.ALERT_RESOLVED, Kind.STATUS_CHANGE]


def test_one_firing_alert_is_named_alone_in_its_fired_entry(am):
    am.post(load("firing"))
    fired = only_incident().timeline.get(kind=Kind.ALERT_FIRED)
    assert fired.text == "TargetDown on 127.0.0.1:59665 fired."
    assert fired.data["count"] == 1


@pytest.mark.parametrize("seen_firing", [True, False], ids=["resolving-a-stored-alert", "arriving-resolved"])
def test_an_alert_resolved_entry_names_the_group_of_the_alert(am, seen_firing):
    if seen_firing:
        am.post(load("firing"))
    assert am.post(load("resolved")).status_code == 200
    entry = only_incident().timeline.get(kind=Kind.ALERT_RESOLVED)
    assert entry.text == "TargetDown on 127.0.0.1:59665 resolved at 2026-11-27 09:41:45 UTC."
    assert entry.data["group_key"] == '{}:{alertname="TargetDown", service="app"}'


# --- replay ------------------------------------------------------------------------------


def snapshot() -> dict:
    """Every row the intake writes, field by field."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Incident, TimelineEntry, Alert, AlertGroup, Service, Integration)
    }


SEQUENCES = {
    "firing": ["firing"],
    "resolved": ["resolved"],
    "firing then resolved": ["firing", "resolved"],
    "firing-grouped-2": ["firing-grouped-2"],
    "grouped-2 both ways": ["firing-grouped-2", "resolved-grouped-2"],
}


@pytest.mark.parametrize("names", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_replaying_any_payload_changes_nothing(am, names):
    payloads = [load(name) for name in names]
    for payload in payloads:
        assert am.post(payload).status_code == 200
    before = snapshot()

    for _ in range(3):
        for payload in payloads + payloads[::-1]:
            response = am.post(payload)
            assert response.status_code == 200
            assert response.json()["changed"] is False

    assert snapshot() == before


def test_a_firing_repeat_after_the_resolution_is_stale_and_ignored(am):
    am.post(load("firing-grouped-2"))
    am.post(load("resolved-grouped-2"))
    before = snapshot()

    response = am.post(load("firing-grouped-2"))

    assert response.status_code == 200
    assert snapshot() == before
    assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}


# --- grouping ----------------------------------------------------------------------------


def _second_alert(payload: dict, *, minutes=1, fingerprint="1111222233334444") -> dict:
    alert = dict(payload["alerts"][0])
    starts = datetime.fromisoformat(alert["startsAt"]) + timedelta(minutes=minutes)
    alert.update(fingerprint=fingerprint, startsAt=starts.isoformat(), labels={**alert["labels"], "instance": "b:9"})
    return variant(payload, alerts=[alert])


def test_new_alerts_of_an_open_group_join_its_incident(am):
    firing = load("firing")
    am.post(firing)

    response = am.post(_second_alert(firing))

    assert response.status_code == 200
    assert response.json()["created"] is False
    incident = only_incident()
    assert incident.alert_group.alerts.count() == 2
    added = incident.timeline.filter(kind=Kind.ALERT_FIRED).last()
    assert added.data["initial"] is False
    assert added.data["alerts"][0]["instance"] == "b:9"


def test_new_alerts_join_an_acknowledged_incident(am, responder):
    """Only a closed incident, or one resolved longer ago than the window, starts the group afresh."""
    firing = load("firing")
    am.post(firing)
    workflow.acknowledge(only_incident(), by=responder)

    response = am.post(_second_alert(firing))

    assert response.status_code == 200 and response.json()["created"] is False
    incident = only_incident()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.alert_group.alerts.count() == 2


def test_another_group_opens_another_incident(am):
    am.post(load("firing"))
    am.post(variant(load("firing-grouped-2"), groupKey='{}:{alertname="Other"}'))
    assert Incident.objects.count() == 2


def test_the_group_firing_again_soon_after_resolution_reopens_its_incident(am, responder):
    firing = load("firing")
    am.post(firing)
    incident = only_incident()
    workflow.resolve(incident, by=responder, summary="Restarted the app.", confirmed=True)

    am.post(_second_alert(firing))

    incident.refresh_from_db()
    assert Incident.objects.count() == 1
    assert incident.status == Incident.Status.ACKNOWLEDGED
    reopened = incident.timeline.filter(kind=Kind.STATUS_CHANGE).last()
    assert reopened.data["reopened"] is True and reopened.author is None
    assert "fired again" in reopened.text


def test_the_group_firing_again_after_the_window_opens_a_new_incident(am, responder, settings):
    settings.ALERTMANAGER_REOPEN_MINUTES = 60
    firing = load("firing")
    am.post(firing)
    first = only_incident()
    workflow.resolve(first, by=responder, summary="Restarted the app.", confirmed=True)

    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=61)):
        am.post(_second_alert(firing, minutes=70))

    assert Incident.objects.count() == 2
    first.refresh_from_db()
    assert first.status == Incident.Status.RESOLVED
    second = Incident.objects.exclude(pk=first.pk).get()
    assert second.status == Incident.Status.REPORTED
    assert list(AlertGroup.objects.filter(is_current=True).values_list("incident", flat=True)) == [second.pk]


def test_a_closed_incident_is_never_reopened(am, responder, manager):
    firing = load("firing")
    am.post(firing)
    first = only_incident()
    workflow.resolve(first, by=responder, summary="Fixed.", confirmed=True)
    workflow.close(first, by=manager)

    am.post(_second_alert(firing))

    first.refresh_from_db()
    assert first.status == Incident.Status.CLOSED
    assert Incident.objects.count() == 2


@pytest.mark.parametrize(
    "after, reopened",
    [(timedelta(minutes=60), True), (timedelta(minutes=60, microseconds=1), False)],
    ids=["at-the-end-of-the-window", "just-after-it"],
)
def test_the_reopen_window_includes_its_last_moment(am, responder, settings, after, reopened):
    settings.ALERTMANAGER_REOPEN_MINUTES = 60
    resolved_at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    firing = load("firing")
    with time_machine.travel(resolved_at - timedelta(minutes=15), tick=False):
        am.post(firing)
    first = only_incident()
    with time_machine.travel(resolved_at, tick=False):
        workflow.resolve(first, by=responder, summary="Restarted the app.", confirmed=True)
    first.refresh_from_db()
    assert first.resolved_at == resolved_at

    with time_machine.travel(resolved_at + after, tick=False):
        assert am.post(_second_alert(firing, minutes=30)).status_code == 200

    first.refresh_from_db()
    if reopened:
        assert Incident.objects.count() == 1
        assert first.status == Incident.Status.ACKNOWLEDGED
        assert first.alert_group.alerts.count() == 2
    else:
        assert Incident.objects.count() == 2
        assert first.status == Incident.Status.RESOLVED
        assert first.alert_group.alerts.count() == 1


def test_an_alert_resolved_under_a_new_group_key_resolves_where_it_fired(am):
    """Alertmanager's grouping changed (a new `group_by`): the resolution of an alert stored under
    the old key still resolves it, in its own incident; no group or incident is made for the new key."""
    am.post(load("firing"))
    incident = only_incident()
    ref = incident.ref

    response = am.post(variant(load("resolved"), groupKey='{}:{alertname="TargetDown"}'))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["message"], body["incidents"], body["incident"], body["created"]) == (
        f"{ref}: 1 resolved.",
        [ref],
        None,
        False,
    )
    assert only_incident().status == Incident.Status.MITIGATED
    assert Alert.objects.get().status == Alert.Status.RESOLVED
    group = AlertGroup.objects.get()
    assert group.group_key == '{}:{alertname="TargetDown", service="app"}'
    assert group.last_payload["status"] == "firing", "the old group keeps the payload it was last sent"


def test_alerts_resolving_after_a_person_mitigated_change_no_status(am, responder):
    firing = load("firing-grouped-2")
    am.post(firing)
    incident = only_incident()
    workflow.mitigate(incident, by=responder, text="Failed over.")

    response = am.post(load("resolved-grouped-2"))

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Incident.Status.MITIGATED
    assert incident.source_resolved_at is None
    assert incident.timeline.filter(kind=Kind.ALERT_RESOLVED).count() == 2


def test_truncated_alerts_are_recorded_once(am):
    payload = variant(load("firing"), truncatedAlerts=7)
    am.post(payload)
    am.post(payload)

    incident = only_incident()
    assert incident.alert_group.truncated_alerts == 7
    notes = incident.timeline.filter(data__truncated_alerts=7)
    assert notes.count() == 1
    assert "7 alert(s) out" in notes.get().text


def test_a_later_payload_with_a_new_alert_and_fewer_left_out_records_only_the_alert(am):
    first = variant(load("firing-grouped-2"), truncatedAlerts=7)
    first["alerts"] = first["alerts"][:1]
    am.post(first)
    assert am.post(variant(load("firing-grouped-2"), truncatedAlerts=3)).status_code == 200
    incident = only_incident()
    assert incident.alert_group.truncated_alerts == 7
    assert incident.timeline.filter(data__has_key="truncated_alerts").count() == 1
    assert Alert.objects.count() == 2


def test_a_later_payload_leaving_fewer_alerts_out_changes_nothing(am):
    am.post(variant(load("firing"), truncatedAlerts=7))
    response = am.post(variant(load("firing"), truncatedAlerts=3))

    assert response.json()["message"].startswith("Nothing new"), response.content
    incident = only_incident()
    assert incident.alert_group.truncated_alerts == 7
    assert incident.timeline.filter(data__has_key="truncated_alerts").count() == 1


# --- mapping -----------------------------------------------------------------------------


def _with_labels(**labels) -> dict:
    payload = load("firing")
    alert = payload["alerts"][0]
    alert["labels"] = {"alertname": "HighLatency", **labels}
    alert["annotations"] = {}
    payload["commonLabels"] = {}
    payload["commonAnnotations"] = {}
    return payload


@pytest.mark.parametrize(
    "label, expected",
    [
        ("critical", "critical"),
        ("high", "high"),
        ("error", "high"),
        ("page", "high"),
        ("warning", "medium"),
        ("info", "low"),
        ("low", "low"),
        ("WARNING", "medium"),
        ("none", "medium"),
        (None, "medium"),
    ],
)
def test_severity_comes_from_the_severity_label(am, label, expected):
    labels = {"service": "api"} if label is None else {"service": "api", "severity": label}
    am.post(_with_labels(**labels))
    assert only_incident().severity == expected


def test_the_severity_mapping_is_a_setting(am, settings):
    settings.ALERTMANAGER_SEVERITY_MAP = {"sev1": "critical"}
    am.post(_with_labels(severity="sev1"))
    assert only_incident().severity == "critical"


def test_service_comes_from_the_job_label_without_a_service_label(am):
    ServiceFactory(name="Payments")
    am.post(_with_labels(job="payments", instance="10.0.0.1:9100"))
    incident = only_incident()
    assert incident.service.name == "Payments", "an existing service is matched by name, case aside"
    assert incident.title == "HighLatency on 10.0.0.1:9100"
    assert incident.description == "HighLatency on 10.0.0.1:9100."
    assert Service.objects.count() == 1


def test_the_oldest_service_matching_by_name_or_slug_is_used(am):
    ServiceFactory(name="app", slug="app")
    ServiceFactory(name="APP", slug="app-ops")  # matches the label by name only, case aside
    am.post(load("firing"))  # service="app"
    assert only_incident().service.slug == "app"
    assert Service.objects.count() == 2


@pytest.mark.parametrize(
    "name, slug",
    [("APP", "application"), ("Application", "app")],
    ids=["by name, any case", "by slug"],
)
def test_a_service_matching_the_label_by_name_or_by_slug_alone_is_used(am, name, slug):
    known = ServiceFactory(name=name, slug=slug)
    am.post(load("firing"))  # service="app"
    assert only_incident().service == known
    assert Service.objects.count() == 1


def test_alerts_without_service_or_job_go_to_a_catch_all_service(am):
    am.post(_with_labels())
    assert only_incident().service.name == "Unlabelled alerts"


def test_the_group_firing_again_while_mitigated_makes_the_incident_active_again(am, responder):
    am.post(load("firing"))
    incident = only_incident()
    workflow.acknowledge(incident, by=responder)
    am.post(load("resolved"))
    incident.refresh_from_db()
    assert incident.status == Incident.Status.MITIGATED

    again = load("firing")
    again["alerts"][0]["startsAt"] = "2026-11-27T09:50:00.000Z"  # the same alert, firing anew
    assert am.post(again).status_code == 200

    incident.refresh_from_db()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert (incident.mitigated_at, incident.source_resolved_at) == (None, None)
    change = incident.timeline.filter(kind=Kind.STATUS_CHANGE).last()
    assert (change.author, change.data["old"], change.data["new"], change.data["reactivated"]) == (
        None,
        "mitigated",
        "acknowledged",
        True,
    )
    assert "fired again" in change.text
    assert Incident.objects.count() == 1
    assert am.post(again).status_code == 200  # a repeat changes nothing
    assert incident.timeline.filter(kind=Kind.STATUS_CHANGE).count() == 3


# --- details of the mapping ------------------------------------------------------------


def test_a_resolved_alert_never_seen_firing_and_without_a_usable_end_ended_now(am):
    payload = load("resolved")
    payload["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with time_machine.travel(at, tick=False):
        assert am.post(payload).status_code == 200
    assert Alert.objects.get().ends_at == at
    resolved = only_incident().timeline.get(kind=Kind.ALERT_RESOLVED)
    assert resolved.data["ends_at"] == at.isoformat()


@pytest.mark.parametrize(
    "ends_at, stored",
    [
        ("1970-01-01T00:00:01Z", datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
        ("1969-12-31T23:59:59Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),  # no usable end: now
    ],
)
def test_a_resolved_alerts_end_is_kept_from_the_unix_epoch_on(am, ends_at, stored):
    """Alertmanager's "no end" is its zero time, 0001-01-01: anything before 1970 is read as that."""
    resolved = load("resolved")
    resolved["alerts"][0]["endsAt"] = ends_at
    with time_machine.travel(datetime(2026, 11, 27, 10, 0, tzinfo=UTC), tick=False):
        assert am.post(resolved).status_code == 200
    assert Alert.objects.get().ends_at == stored


@pytest.mark.parametrize(
    "ends_at",
    ["2026-11-27T10:45:00+01:00", "2026-11-27T09:45:00Z", "2026-11-27T09:45:00"],
    ids=["+01:00", "Z", "naive"],
)
def test_an_alerts_end_is_read_in_its_own_offset_and_as_utc_without_one(am, ends_at):
    am.post(load("firing"))
    resolved = load("resolved")
    resolved["alerts"][0]["endsAt"] = ends_at
    assert am.post(resolved).status_code == 200
    assert Alert.objects.get().ends_at == datetime(2026, 11, 27, 9, 45, tzinfo=UTC)


def test_a_firing_alert_has_no_end_even_when_alertmanager_guesses_one(am):
    payload = load("firing")
    payload["alerts"][0]["endsAt"] = "2026-11-27T09:46:42.742Z"  # resolve_timeout's guess
    assert am.post(payload).status_code == 200
    assert Alert.objects.get().ends_at is None


@pytest.mark.parametrize("common", [True, False], ids=["common-summary", "first-alerts-summary"])
def test_a_long_summary_is_cut_to_the_200_characters_of_a_title(am, common):
    payload = load("firing")
    payload["commonAnnotations"]["summary"] = "c" * 300 if common else ""
    payload["alerts"][0]["annotations"]["summary"] = "a" * 300
    assert am.post(payload).status_code == 200
    assert only_incident().title == ("c" if common else "a") * 200


def test_a_service_label_without_letters_or_digits_gets_a_stable_slug(am):
    am.post(_with_labels(service="!!!"))
    service = only_incident().service
    assert (service.name, service.slug) == ("!!!", "service-" + sha1(b"!!!").hexdigest()[:8])


def _group_of(count: int) -> dict:
    payload = load("firing")
    template = payload["alerts"][0]
    payload["alerts"] = [
        {**template, "fingerprint": f"{i:016x}", "labels": {**template["labels"], "instance": f"10.0.0.{i}:9100"}}
        for i in range(count)
    ]
    return payload


@pytest.mark.parametrize("count, more", [(2, ""), (20, ""), (21, " and 1 more"), (45, " and 25 more")])
def test_alert_lists_name_twenty_alerts_then_count_the_rest(am, count, more):
    assert am.post(_group_of(count)).status_code == 200
    incident = only_incident()
    fired = incident.timeline.get(kind=Kind.ALERT_FIRED)
    last = min(count, 20) - 1
    assert fired.text.startswith(f"{count} alert(s) fired: TargetDown on 10.0.0.0:9100, "), fired.text
    assert fired.text.endswith(f"TargetDown on 10.0.0.{last}:9100{more}."), fired.text
    assert len(fired.data["alerts"]) == min(count, 20)
    if count > 20:
        assert f"… and {count - 20} more alerts (see the alert group panel)." in incident.logs
    else:
        assert "more alerts" not in incident.logs


@pytest.mark.parametrize("count", [2, 3, 5])
def test_without_a_common_summary_the_title_counts_the_other_alerts(am, count):
    payload = _group_of(count)
    payload["commonAnnotations"] = {}
    assert am.post(payload).status_code == 200
    assert only_incident().title.endswith(f" (+{count - 1} more)"), only_incident().title


def test_the_answer_says_what_a_payload_changed(am):
    first = load("firing-grouped-2")
    first["alerts"] = first["alerts"][:1]
    assert am.post(first).json()["message"].endswith("opened with 1 alert(s).")
    ref = only_incident().ref
    added = am.post(load("firing-grouped-2")).json()
    assert (added["message"], added["changed"]) == (f"{ref}: 1 new alert(s).", True)
    assert am.post(load("resolved-grouped-2")).json()["message"] == f"{ref}: 2 resolved."
    again = am.post(load("resolved-grouped-2")).json()
    assert again["message"] == f"Nothing new: every alert of this payload is already stored ({ref})."
    assert again["changed"] is False


def test_a_long_receiver_name_is_kept_to_its_200_characters(am):
    payload = variant(load("firing"), receiver="r" * 300)
    assert am.post(payload).status_code == 200
    assert AlertGroup.objects.get().receiver == "r" * 200


def test_a_later_payloads_long_receiver_name_is_kept_to_its_200_characters(am):
    firing = load("firing")
    am.post(firing)
    assert AlertGroup.objects.get().receiver == "incident-webhook"

    assert am.post(variant(_second_alert(firing), receiver="r" * 300)).status_code == 200

    assert AlertGroup.objects.get().receiver == "r" * 200


def test_a_new_group_is_named_and_rated_after_its_firing_alerts(am):
    payload = load("firing-grouped-2")
    payload["commonAnnotations"] = {}
    gone, firing = payload["alerts"]
    gone.update(status="resolved", endsAt="2026-11-27T09:45:00Z", annotations={"summary": "Gone already"})
    gone["labels"] = {**gone["labels"], "severity": "critical"}
    firing["annotations"] = {"summary": "Still down"}
    firing["labels"] = {**firing["labels"], "severity": "warning"}
    payload["commonLabels"] = {}
    assert am.post(payload).status_code == 200
    incident = only_incident()
    assert incident.title == "Still down"
    assert incident.severity == Incident.Severity.MEDIUM  # warning, not the resolved alert's critical


def test_a_payload_without_truncated_alerts_left_none_out(am):
    payload = load("firing")
    del payload["truncatedAlerts"]
    assert am.post(payload).status_code == 200
    incident = only_incident()
    assert incident.alert_group.truncated_alerts == 0
    assert not incident.timeline.filter(data__has_key="truncated_alerts").exists()
    assert "more alerts" not in incident.logs


@pytest.mark.parametrize(
    "label, slug",
    [("s" * 150, "s" * 100), ("\ufb01" * 150, "fi" * 50)],  # "ﬁ" (a ligature) slugifies to two letters
    ids=["plain", "ligatures"],
)
def test_a_long_service_label_names_a_service_of_100_characters(am, label, slug):
    assert am.post(_with_labels(service=label)).status_code == 200
    service = only_incident().service
    assert (service.name, service.slug) == (label[:100], slug)


# --- the incident type -------------------------------------------------------------------


@pytest.mark.parametrize("label", ["leak", "LEAK", "Data leak", " data LEAK "])
def test_the_type_label_names_a_type_by_its_slug_or_its_name_in_any_case(am, label):
    leak = IncidentType.objects.create(name="Data leak", slug="leak")
    payload = load("firing")
    payload["commonLabels"]["incident_type"] = label
    body = am.post(payload).json()
    assert body["type"] == "leak" and "warnings" not in body
    assert only_incident().type == leak


def test_a_type_label_that_is_both_the_slug_and_the_name_of_a_type_names_it(am):
    leak = IncidentType.objects.create(name="Leak", slug="leak")
    payload = load("firing")
    payload["commonLabels"]["incident_type"] = "leak"
    body = am.post(payload).json()
    assert body["type"] == "leak" and "warnings" not in body
    assert only_incident().type == leak


def test_an_unknown_type_label_is_quoted_to_its_first_100_characters(am):
    payload = load("firing")
    payload["commonLabels"]["incident_type"] = "x" * 99 + "yz"
    warning = am.post(payload).json()["warnings"][0]
    assert warning["message"].startswith(f"There is no incident type “{'x' * 99}y”; downtime was used. ")


# --- what a delivery costs ---------------------------------------------------------------------


@pytest.fixture
def busy_group(am) -> dict:
    """An open group that has received 30 alerts after its first: the payload it started with."""
    firing = load("firing")
    am.post(firing)
    for n in range(30):
        am.post(_second_alert(firing, minutes=n + 1, fingerprint=f"busy{n:04d}"))
    return firing


def test_a_new_alert_into_an_open_group_costs_a_fixed_number_of_queries(am, busy_group, django_assert_max_num_queries):
    """Alertmanager sends a busy group every few seconds on outage day: one statement locks the
    group and its incident, and nothing is read twice (token and heartbeat name, the alerts
    stored, the new alert, its entry, the group's last payload), plus the silences and
    maintenance windows in force, in one statement (incidents/alerts/silences.py)."""
    with django_assert_max_num_queries(9 + plan_setting()):
        response = am.post(_second_alert(busy_group, minutes=99, fingerprint="busy0099"))

    assert response.status_code == 200 and response.json()["created"] is False
    assert only_incident().alert_group.alerts.count() == 1 + 30 + 1


def _statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


def test_what_is_in_force_is_read_before_the_group_is_locked(am, busy_group, django_assert_max_num_queries):
    """Deliveries of one group wait for each other's lock: the silences and maintenance windows
    are read before it is taken, so that it is held for the delivery's own work only."""
    with django_assert_max_num_queries(9 + plan_setting()) as queries:
        am.post(_second_alert(busy_group, minutes=99, fingerprint="busy0099"))
    statements = _statements(queries)
    [in_force] = [n for n, sql in enumerate(statements) if "incidents_silence" in sql]
    # The statement that finds (and on PostgreSQL locks) the group: SQLite locks by writing.
    [lock] = [n for n, sql in enumerate(statements) if 'FROM "incidents_alertgroup"' in sql]
    assert "incidents_maintenancewindow" in statements[in_force]
    assert in_force < lock


def test_a_payload_that_only_resolves_known_alerts_reads_no_silences(am, busy_group, django_assert_max_num_queries):
    resolved = variant(busy_group, status="resolved")
    resolved["alerts"] = [{**busy_group["alerts"][0], "status": "resolved", "endsAt": "2026-11-27T10:41:42.742Z"}]
    with django_assert_max_num_queries(20) as queries:
        response = am.post(resolved)

    assert response.json()["changed"] is True
    assert not [sql for sql in _statements(queries) if "incidents_silence" in sql]


def test_a_repeat_of_a_busy_group_costs_as_little(am, busy_group, django_assert_max_num_queries):
    with django_assert_max_num_queries(6 + plan_setting()):
        response = am.post(_second_alert(busy_group, minutes=8, fingerprint="busy0007"))

    assert response.json()["changed"] is False


def test_the_locked_group_is_read_as_the_orm_reads_it(am):
    """`_current_group` reads the group, its incident, service and type in plain SQL: every field
    comes back as the ORM gives it (booleans, JSON, times), and a field left unread loads on use."""
    am.post(load("firing"))
    stored = AlertGroup.objects.select_related("incident__service", "incident__type").get()
    with transaction.atomic():
        group = _current_group(stored.integration, stored.group_key)
    for original, read in [
        (stored, group),
        (stored.incident, group.incident),
        (stored.incident.service, group.incident.service),
        (stored.incident.type, group.incident.type),
    ]:
        loaded = {f.attname for f in type(read)._meta.concrete_fields} - read.get_deferred_fields()
        assert loaded, type(read)
        for name in loaded:
            assert getattr(read, name) == getattr(original, name), (type(read).__name__, name)
    assert group.get_deferred_fields() == {"last_payload", "group_labels"}
    assert group.last_payload == stored.last_payload and group.incident.description == stored.incident.description
    assert group.incident.reported_at.tzinfo is not None and group.is_current is True
    with transaction.atomic():
        assert _current_group(stored.integration, "{}:{other}") is None


def test_each_delivery_keeps_the_groups_last_payload_as_sent(am):
    """The group's row is updated in plain SQL (models/plain.py, `update`): JSON, time and text
    come back as they were sent."""
    firing = load("firing")
    am.post(firing)
    later = variant(_second_alert(firing, minutes=5), receiver="pager", externalURL="http://am.example:9093")
    later["truncatedAlerts"] = 2
    with time_machine.travel(datetime(2026, 11, 27, 10, 0, tzinfo=UTC), tick=False):
        am.post(later)
    group = AlertGroup.objects.get()
    assert group.last_payload == later
    assert (group.receiver, group.external_url, group.truncated_alerts) == ("pager", "http://am.example:9093", 2)
    assert group.last_payload_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("returning", [True, False], ids=["insert-returning", "sqlite-before-3.35"])
def test_plain_inserts_write_what_the_orm_writes_and_give_each_row_its_key(am, returning, monkeypatch):
    """Alerts (and timeline entries, tasks and groups) are written with `plain.insert`: every column
    as the ORM writes it (JSON, times, defaults), each object given its own new primary key, also
    over the 1,000 rows one statement takes; on a database that cannot return the keys of an
    INSERT (SQLite before 3.35), row by row through the ORM, with the same result."""
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", returning)
    am.post(load("firing"))
    group = AlertGroup.objects.get()
    starts = datetime(2026, 11, 27, 9, 41, 42, 742000, tzinfo=UTC)
    made = {
        "group": group,
        "starts_at": starts,
        "status": Alert.Status.FIRING,
        "labels": {"alertname": "Plätze", "n": "1"},
        "annotations": {"summary": "a \"quoted\" 'text'"},
        "generator_url": "http://prometheus.example/graph",
    }
    by_orm = Alert.objects.create(fingerprint="orm", **made)
    by_plain = [Alert(fingerprint=f"plain-{n}", **made) for n in range(2001)]
    plain.insert(*by_plain)

    assert all(not alert._state.adding for alert in by_plain)
    keys = dict(Alert.objects.filter(fingerprint__startswith="plain-").values_list("pk", "fingerprint"))
    assert keys == {alert.pk: alert.fingerprint for alert in by_plain}
    read = Alert.objects.in_bulk([by_orm.pk, by_plain[0].pk, by_plain[-1].pk])
    for alert in (by_plain[0], by_plain[-1]):
        for f in Alert._meta.concrete_fields:
            if f.name not in ("id", "fingerprint", "received_at"):
                assert getattr(read[alert.pk], f.attname) == getattr(read[by_orm.pk], f.attname), f.name
        assert read[alert.pk].received_at is not None
    assert read[by_plain[0].pk].ends_at is None and read[by_plain[0].pk].starts_at == starts


@pytest.mark.django_db(transaction=True)
def test_the_token_query_is_the_health_check_and_a_dropped_connection_is_replaced(am):
    """A delivery does not pay Django's `SELECT 1` before its first query (one round trip fewer
    per alert payload), and still survives a connection the database dropped (a restart, an idle
    timeout): the token's query reconnects once and the payload is stored."""
    if connection.vendor != "postgresql":
        pytest.skip("connection health checks are PostgreSQL's here (SQLite connections are not kept)")
    import psycopg

    assert am.post(load("firing")).status_code == 200  # the connection stays open (CONN_MAX_AGE)
    assert connection.health_check_enabled and connection.connection is not None
    checks = []
    original = connection.is_usable
    connection.is_usable = lambda: checks.append(1) or True
    try:
        connection.close_if_unusable_or_obsolete()  # what request_started does under gunicorn
        assert am.post(load("resolved")).status_code == 200
    finally:
        del connection.is_usable
    assert checks == [], "Django's SELECT 1 ran besides the token's query"
    assert connection.is_usable == original

    old_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    connection.close_if_unusable_or_obsolete()
    second = _second_alert(load("firing"), minutes=5)
    answer = am.post(second)
    assert answer.status_code == 200, answer.content
    assert answer.json()["changed"] is True
    assert connection.connection.info.backend_pid != old_pid


@pytest.mark.django_db(transaction=True)
def test_the_intake_plans_its_key_lookups_once_and_pages_still_plan_for_their_values(am):
    """The intake's statements run on generic plans (planning them again on every delivery was
    most of the database's work on it), and only inside its own transaction: the connection's
    per-value planning, which pages need (incidentsite/settings.py), is back right after."""
    if not plain.prepares():
        pytest.skip("prepared statements are PostgreSQL's, with DB_PREPARED_STATEMENTS on")
    firing = load("firing")
    assert am.post(firing).status_code == 200
    for minutes in range(1, 7):  # new alerts into the open group: the group's lock statement each time
        answer = am.post(_second_alert(firing, minutes=minutes, fingerprint=f"{minutes:016x}"))
        assert answer.json()["changed"] is True
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_custom_plan",)
        cursor.execute(
            "SELECT custom_plans, generic_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%FOR UPDATE OF g, i%"],
        )
        plans = cursor.fetchall()
    # Prepared on its second run (prepare_threshold), then planned once and reused.
    assert plans == [(0, 5)]


@pytest.mark.django_db(transaction=True)
def test_generic_plans_outside_a_transaction_is_refused():
    # Outside a transaction SET LOCAL would do nothing but warn: a caller that forgot the block
    # would lose the saving without noticing.
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        plain.generic_plans()
