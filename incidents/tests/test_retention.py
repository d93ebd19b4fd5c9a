"""Data retention (incidents/retention.py, the apply_retention command, the /retention/ page):
a dry run changes nothing, a purge removes exactly what it said and what cascades, an anonymised
incident holds no personal datum and still counts, restricted incidents by their own years,
reviews kept or not, the ledgers after their days, open incidents never."""

import io
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.utils.timezone import now
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from incidents import retention, workflow
from incidents.models import (
    Alert,
    AlertGroup,
    InboundMail,
    Incident,
    IncidentLink,
    Integration,
    Notification,
    RetentionPolicy,
    RetentionRun,
    StatusPageGeneration,
    StatusUpdate,
    TimelineEntry,
    UserReport,
)
from incidents.models.tokens import hash_token
from incidents.tests.factories import ServiceFactory, make_incident
from reviews.models import Review
from reviews.tests.factories import make_review

# A name and an address that appear only in what people wrote about the old incidents.
NAME = "Zelda Quux"
MARKER = "quux"


def policy(**fields) -> RetentionPolicy:
    values = {"incident_years": 2, "action": RetentionPolicy.Action.ANONYMISE, "keep_reviews": True}
    values.update(fields)
    found, _ = RetentionPolicy.objects.update_or_create(pk=1, defaults=values)
    return found


def closed_incident(reporter, responder, manager, *, years_ago: float, review=False, restrict=False, public=False):
    """A closed incident full of personal data: notes, updates, alerts, a user report, an inbound
    mail, deliveries (its reporter follows it), perhaps a review; closed `years_ago`."""
    incident = make_incident(
        by=reporter,
        follow=True,
        public=public,
        title=f"Checkout down for {NAME}",
        description=f"{NAME} cannot pay.",
        logs=f"user={MARKER}@example.org",
        service=ServiceFactory(name="Checkout", is_public=True),
    )
    workflow.add_note(incident, by=responder, text=f"Called {NAME} on +44 20 7946 0000.")
    workflow.post_update(incident, by=responder, message=f"We are helping {NAME}.", public=public)
    workflow.acknowledge(incident, by=responder)
    if restrict:
        workflow.restrict(incident, by=responder, reason=f"{NAME}'s account data")
    integration, _ = Integration.objects.get_or_create(
        name="Prometheus", defaults={"token_hash": hash_token(f"t-{incident.pk}"), "token_hint": "t"}
    )
    group = AlertGroup.objects.create(
        integration=integration,
        group_key=f"{{}}:{{alertname=DiskFull,owner={MARKER}}}-{incident.pk}",
        incident=incident,
        is_current=True,  # a closed incident's group stays current until its next alert retires it
        group_labels={"alertname": "DiskFull", "owner": NAME},
        external_url=f"http://am/{MARKER}",
        last_payload={"owner": NAME},
    )
    Alert.objects.create(
        group=group,
        fingerprint=f"fp{incident.pk}",
        starts_at=now(),
        status=Alert.Status.RESOLVED,
        labels={"alertname": "DiskFull", "user": MARKER},
        annotations={"summary": f"{NAME}'s disk is full"},
        generator_url=f"http://prom/{MARKER}",
    )
    UserReport.objects.create(
        what=f"{NAME} here, cannot pay", email=f"{MARKER}@example.org", incident=incident, state="attached"
    )
    InboundMail.objects.create(
        key=f"k{incident.pk}",
        sender=f"{MARKER}@example.org",
        subject=f"From {NAME}",
        outcome="noted",
        incident=incident,
    )
    incident = workflow.resolve(incident, by=responder, summary=f"Refunded {NAME}.", confirmed=True)
    if review:
        make_review(responder=responder, incident=incident, root_cause="A bad deploy.")
    workflow.close(incident, by=manager)
    Incident.objects.filter(pk=incident.pk).update(closed_at=now() - timedelta(days=round(365.25 * years_ago)))
    return Incident.objects.get(pk=incident.pk)


@pytest.fixture
def people(reporter, responder, manager):
    return {"reporter": reporter, "responder": responder, "manager": manager}


def old(people, **kwargs) -> Incident:
    return closed_incident(people["reporter"], people["responder"], people["manager"], **kwargs)


def table_sizes() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def rows_mentioning(text: str) -> list[str]:
    """Every table and column whose text, JSON or address values contain `text` in some row, as
    "table.column" (the audit log included)."""
    found = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, models.CharField | models.TextField | models.JSONField):
                    continue
                table, column = (connection.ops.quote_name(name) for name in (model._meta.db_table, field.column))
                cursor.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE LOWER(CAST({column} AS TEXT)) LIKE %s", [f"%{text}%"]
                )  # noqa: S608
                if cursor.fetchone()[0]:
                    found.append(f"{model._meta.db_table}.{field.column}")
    return found


def counts(lines) -> dict[str, int]:
    return {line.kind: line.count for line in lines}


# --- what goes, what stays -------------------------------------------------------------------


def test_a_dry_run_says_what_would_go_and_changes_nothing(people):
    gone = old(people, years_ago=3)
    old(people, years_ago=1)  # within the two years
    make_incident(by=people["reporter"], title="Still open")
    policy()
    before = table_sizes()
    out = io.StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Dry run: nothing is changed" in text
    assert f"       1  Incidents anonymised, oldest {gone.closed_at:%Y-%m-%d}" in text
    assert "       0  Incidents purged" in text
    assert table_sizes() == before
    assert Incident.objects.filter(anonymised_at__isnull=False).count() == 0
    assert NAME in Incident.objects.get(pk=gone.pk).title
    assert not RetentionRun.objects.exists()


def test_a_purge_removes_exactly_what_the_preview_said_and_what_cascades(people):
    gone = old(people, years_ago=3, review=True)
    kept = old(people, years_ago=1)
    still_open = make_incident(by=people["reporter"], title="Open")
    rule = policy(action=RetentionPolicy.Action.PURGE, keep_reviews=False)
    said = counts(retention.preview(rule))
    assert said["incidents_purged"] == 1 and said["reviews_deleted"] == 1
    assert said["timeline_entries"] == TimelineEntry.objects.filter(incident=gone).count()
    assert said["alerts"] == 1 and said["incident_deliveries"] == Notification.objects.filter(incident=gone).count() > 0

    done = retention.apply(rule, trigger="test")
    assert done == said
    assert not Incident.objects.filter(pk=gone.pk).exists()
    for model in (TimelineEntry, StatusUpdate, Notification, AlertGroup, Review):
        assert not model.objects.filter(incident_id=gone.pk).exists(), model
    assert not Alert.objects.filter(fingerprint=f"fp{gone.pk}").exists()
    # Rows that only pointed at it (SET_NULL) carried what people typed: gone too.
    assert not UserReport.objects.filter(what__contains=NAME).exclude(incident=kept).exists()
    assert not InboundMail.objects.filter(key=f"k{gone.pk}").exists()
    assert Incident.objects.filter(pk__in=[kept.pk, still_open.pk]).count() == 2
    assert NAME in Incident.objects.get(pk=kept.pk).title
    run = RetentionRun.objects.get()
    assert run.finished_at is not None and run.counts == done and run.trigger == "test"
    # A second run finds nothing.
    assert not any(counts(retention.preview(rule)).values())


def test_anonymising_leaves_no_personal_datum_and_keeps_what_reports_count(people):
    incident = old(people, years_ago=3, review=True)
    times = Incident.objects.filter(pk=incident.pk).values(
        "service", "type", "severity", "source", "status", "reported_at", "acknowledged_at", "resolved_at", "closed_at"
    )[0]
    entries = TimelineEntry.objects.filter(incident=incident).count()
    version = incident.version
    rule = policy(keep_reviews=False)
    assert rows_mentioning(MARKER)  # the world is full of it first

    retention.apply(rule)
    assert rows_mentioning(MARKER) == []
    incident.refresh_from_db()
    assert incident.title == f"Anonymised incident INC-{incident.pk}"
    assert (incident.description, incident.impact, incident.logs, incident.resolution_summary) == ("", "", "", "")
    assert incident.reporter_id is None and incident.lead_id is None and incident.resolution_confirmed_by_id is None
    assert not incident.participants.exists() and not incident.subscriptions.exists()
    assert incident.anonymised_at is not None
    assert Incident.objects.filter(pk=incident.pk).values(*times)[0] == times
    # The timeline stays (its count and times), without words or authors; moves keep what moved.
    assert TimelineEntry.objects.filter(incident=incident).count() == entries
    assert not TimelineEntry.objects.filter(incident=incident, author__isnull=False).exists()
    acknowledged = TimelineEntry.objects.get(incident=incident, kind="status_change", data__new="acknowledged")
    assert acknowledged.data == {"old": "reported", "new": "acknowledged"}  # the new lead's name is gone
    # Alerts keep their name (reports: top alerts, repeat offenders), nothing else.
    alert = Alert.objects.get(group__incident=incident)
    assert alert.labels == {"alertname": "DiskFull"} and alert.annotations == {} and alert.generator_url == ""
    group = AlertGroup.objects.get(incident=incident)
    assert group.group_labels == {"alertname": "DiskFull"} and not group.is_current
    # An edit form opened before is refused as stale: the version moved on by one.
    assert incident.version == version + 1
    assert not Notification.objects.filter(incident=incident).exists()
    assert UserReport.objects.filter(incident=incident, what="", email="").count() == 1
    assert not Review.objects.filter(incident=incident).exists()


def test_a_second_run_leaves_an_anonymised_incident_alone(people):
    incident = old(people, years_ago=3)
    rule = policy()
    assert retention.apply(rule)["incidents_anonymised"] == 1
    assert counts(retention.preview(rule))["incidents_anonymised"] == 0
    assert retention.apply(rule)["incidents_anonymised"] == 0
    assert Incident.objects.get(pk=incident.pk).title.startswith("Anonymised")


def test_a_note_added_to_an_anonymised_incident_is_anonymised_by_the_next_run(people):
    incident = old(people, years_ago=3)
    rule = policy()
    retention.apply(rule)
    workflow.add_note(incident, by=people["responder"], text=f"{NAME} called again.")
    assert counts(retention.preview(rule))["incidents_anonymised"] == 1
    retention.apply(rule)
    assert rows_mentioning(MARKER) == []
    assert counts(retention.preview(rule))["incidents_anonymised"] == 0


def test_kept_reviews_turn_a_purge_into_an_anonymisation_of_reviewed_incidents(people):
    reviewed = old(people, years_ago=3, review=True)
    plain = old(people, years_ago=3)
    rule = policy(action=RetentionPolicy.Action.PURGE, keep_reviews=True)
    said = counts(retention.preview(rule))
    assert (said["incidents_purged"], said["incidents_anonymised"], said["reviews_deleted"]) == (1, 1, 0)
    retention.apply(rule)
    assert not Incident.objects.filter(pk=plain.pk).exists()
    assert Incident.objects.get(pk=reviewed.pk).anonymised_at is not None
    assert Review.objects.get(incident=reviewed).root_cause == "A bad deploy."


def test_reviews_not_kept_go_with_anonymised_incidents_even_ones_anonymised_earlier(people):
    incident = old(people, years_ago=3, review=True)
    retention.apply(policy(keep_reviews=True))
    assert Review.objects.filter(incident=incident).exists()
    rule = policy(keep_reviews=False)
    assert counts(retention.preview(rule))["reviews_deleted"] == 1
    assert retention.apply(rule)["reviews_deleted"] == 1
    assert not Review.objects.filter(incident=incident).exists()
    assert Incident.objects.filter(pk=incident.pk).exists()


def test_restricted_incidents_follow_their_own_years(people):
    restricted = old(people, years_ago=3, restrict=True)
    unrestricted = old(people, years_ago=3)
    # Restricted kept 2 years, the rest for ever.
    retention.apply(policy(incident_years=None, restricted_years=2))
    assert Incident.objects.get(pk=restricted.pk).anonymised_at is not None
    assert Incident.objects.get(pk=unrestricted.pk).anonymised_at is None
    # Restricted kept longer than the rest.
    longer = old(people, years_ago=3, restrict=True)
    retention.apply(policy(incident_years=2, restricted_years=5))
    assert Incident.objects.get(pk=unrestricted.pk).anonymised_at is not None
    assert Incident.objects.get(pk=longer.pk).anonymised_at is None


def test_open_and_unclosed_incidents_are_never_touched_however_old(people):
    ancient = make_incident(by=people["reporter"], title=f"Open for {NAME}")
    resolved = make_incident(by=people["reporter"], title=f"Resolved for {NAME}")
    workflow.acknowledge(resolved, by=people["responder"])
    workflow.resolve(resolved, by=people["responder"], summary="Done.", confirmed=True)
    long_ago = now() - timedelta(days=3650)
    Incident.objects.filter(pk__in=[ancient.pk, resolved.pk]).update(reported_at=long_ago, occurred_at=long_ago)
    rule = policy(incident_years=1, action=RetentionPolicy.Action.PURGE, keep_reviews=False)
    assert not any(counts(retention.preview(rule)).values())
    retention.apply(rule)
    assert Incident.objects.filter(pk__in=[ancient.pk, resolved.pk], anonymised_at__isnull=True).count() == 2


def test_no_years_set_removes_no_incident(people):
    old(people, years_ago=30)
    rule = policy(incident_years=None, restricted_years=None, action=RetentionPolicy.Action.PURGE)
    assert retention.apply(rule)["incidents_purged"] == 0
    assert Incident.objects.count() == 1


def test_a_run_stopped_half_way_keeps_its_whole_batches_and_the_next_carries_on(people, monkeypatch):
    first, second, third = (old(people, years_ago=3) for _ in range(3))
    rule = policy()
    real = retention._anonymise
    calls = []

    def dies_on_the_second_batch(ids, at, counts):
        calls.append(ids)
        if len(calls) == 2:
            raise RuntimeError("killed")
        real(ids, at, counts)

    monkeypatch.setattr(retention, "_anonymise", dies_on_the_second_batch)
    with pytest.raises(RuntimeError):
        retention.apply(rule, batch=1)
    assert calls == [[first.pk], [second.pk]]
    assert list(Incident.objects.filter(anonymised_at__isnull=False).values_list("pk", flat=True)) == [first.pk]
    assert NAME in Incident.objects.get(pk=second.pk).title  # the failed batch left nothing half-written
    assert RetentionRun.objects.get().finished_at is None  # shown as not finished

    monkeypatch.setattr(retention, "_anonymise", real)
    assert retention.apply(rule, batch=1)["incidents_anonymised"] == 2
    assert not Incident.objects.filter(anonymised_at__isnull=True, pk__in=[second.pk, third.pk]).exists()


def test_the_delivery_ledger_and_finished_task_rows_go_after_their_days(people, settings):
    incident = make_incident(by=people["reporter"])

    def delivery(key, state, days_ago):
        return Notification.objects.create(
            event_key=key,
            channel="email",
            recipient=f"{key}@example.org",
            incident=incident,
            body_text="x",
            state=state,
            created_at=now() - timedelta(days=days_ago),
        )

    sent_long_ago = delivery("a", "sent", 40)
    failed_long_ago = delivery("b", "failed", 40)
    pending_long_ago = delivery("c", "pending", 40)  # still to deliver: never pruned
    recent = delivery("d", "sent", 5)

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    from incidents.notifications.delivery import deliver_email

    def task_row(status, days_ago):
        row = DBTaskResult.objects.get(pk=deliver_email.enqueue(0).id)
        row.status = status
        row.finished_at = now() - timedelta(days=days_ago) if status != TaskResultStatus.RUNNING else None
        row.started_at = now() - timedelta(days=days_ago)
        row.save()
        return row

    old_done = task_row(TaskResultStatus.SUCCESSFUL, 20)
    old_failed = task_row(TaskResultStatus.FAILED, 20)
    young = task_row(TaskResultStatus.SUCCESSFUL, 3)
    running = task_row(TaskResultStatus.RUNNING, 20)

    rule = policy(incident_years=None, delivery_days=30, task_days=14)
    said = counts(retention.preview(rule))
    assert (said["delivery_ledger"], said["task_rows"]) == (2, 2)
    assert retention.apply(rule, batch=1) == said
    assert set(Notification.objects.values_list("pk", flat=True)) >= {pending_long_ago.pk, recent.pk}
    assert not Notification.objects.filter(pk__in=[sent_long_ago.pk, failed_long_ago.pk]).exists()
    assert set(DBTaskResult.objects.values_list("pk", flat=True)) == {young.pk, running.pk}
    assert old_done.pk != old_failed.pk


def test_records_of_silenced_alerts_go_with_the_delivery_ledgers_days(people):
    from incidents.models import Silence, SilencedAlert

    silence = Silence.objects.create(
        matchers=[{"name": "alertname", "op": "=", "value": "Noisy"}], expires_at=now() + timedelta(hours=2)
    )

    def held(key, days_ago):
        return SilencedAlert.objects.create(
            silence=silence,
            fingerprint=key,
            starts_at=now(),
            status="firing",
            labels={"alertname": "Noisy"},
            received_at=now() - timedelta(days=days_ago),
        )

    old_one, young = held("old", 40), held("young", 5)
    rule = policy(incident_years=None, delivery_days=30)
    said = counts(retention.preview(rule))
    assert said["silenced_alerts"] == 1
    assert retention.apply(rule, batch=1)["silenced_alerts"] == 1
    assert list(SilencedAlert.objects.values_list("pk", flat=True)) == [young.pk]
    assert Silence.objects.filter(pk=silence.pk).exists() and old_one.pk != young.pk
    # Without delivery days, kept for ever, like the ledger.
    assert retention.apply(policy(incident_years=None, delivery_days=None))["silenced_alerts"] == 0
    assert SilencedAlert.objects.count() == 1


def test_without_delivery_days_the_ledger_is_kept(people):
    Notification.objects.create(
        event_key="a", channel="email", recipient="a@example.org", body_text="x", state="sent",
        created_at=now() - timedelta(days=9000),
    )  # fmt: skip
    assert retention.apply(policy(incident_years=None, delivery_days=None))["delivery_ledger"] == 0
    assert Notification.objects.count() == 1


def _generation() -> int:
    return StatusPageGeneration.objects.get(pk=1).generation if StatusPageGeneration.objects.exists() else 0


def test_removing_a_public_incident_bumps_the_status_page_cache(people):
    old(people, years_ago=3, public=True)
    before = _generation()
    retention.apply(policy(action=RetentionPolicy.Action.PURGE, keep_reviews=False))
    assert _generation() > before


def test_removing_internal_incidents_leaves_the_status_page_cache_alone(people):
    old(people, years_ago=3, public=False)
    before = _generation()
    retention.apply(policy())
    assert _generation() == before


def test_every_run_and_every_change_of_the_policy_is_in_the_audit_log(people, clients):
    old(people, years_ago=3)
    response = clients["manager"].post("/retention/", _posted(incident_years="2"))
    assert response.status_code == 302
    changes = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(RetentionPolicy))
    assert changes.count() == 1 and changes.get().actor == people["manager"]
    assert changes.get().changes_dict["incident_years"] == ["None", "2"]

    call_command("apply_retention", stdout=io.StringIO())
    runs = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(RetentionRun))
    assert runs.count() == 2  # started, then finished with its counts
    assert '"incidents_anonymised": 1' in runs.latest("pk").changes_dict["counts"][1]


def test_the_command_refuses_a_batch_size_below_one(db):
    with pytest.raises(CommandError, match="--batch-size must be 1 or more"):
        call_command("apply_retention", "--batch-size", "0")


def test_a_run_says_who_started_it_and_what_it_removed(people):
    old(people, years_ago=3)
    policy()
    out = io.StringIO()
    call_command("apply_retention", stdout=out)
    assert "       1  Incidents anonymised\n" in out.getvalue()
    call_command("apply_retention", trigger="sweeper", verbosity=0, stdout=out)
    assert [run.trigger for run in RetentionRun.objects.order_by("pk")] == ["command", "sweeper"]


@pytest.mark.parametrize(
    ("at", "years", "expected"),
    [
        ("2028-02-29T12:00:00+00:00", 1, "2027-02-28T12:00:00+00:00"),
        ("2028-02-29T12:00:00+00:00", 4, "2024-02-29T12:00:00+00:00"),
        ("2026-12-05T00:00:00+00:00", 3, "2023-12-05T00:00:00+00:00"),
    ],
)
def test_years_are_calendar_years(at, years, expected):
    from datetime import datetime

    assert retention.years_before(datetime.fromisoformat(at), years) == datetime.fromisoformat(expected)


# --- the page --------------------------------------------------------------------------------


def _posted(**fields) -> dict:
    values = {
        "incident_years": "",
        "restricted_years": "",
        "action": "anonymise",
        "keep_reviews": "on",
        "delivery_days": "",
        "task_days": "14",
    }
    values.update(fields)
    return values


def test_managers_see_the_policy_and_what_a_run_would_remove(people, clients):
    gone = old(people, years_ago=3)
    policy()
    response = clients["manager"].get("/retention/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "What a run now would remove" in page
    assert f'<time datetime="{gone.closed_at:%Y-%m-%d}' in page
    assert "No run yet." in page
    retention.apply(trigger="maya")
    page = clients["manager"].get("/retention/").content.decode()
    assert "Incidents anonymised: 1" in page and "· maya" in page


def test_managers_save_the_policy(clients, db):
    response = clients["manager"].post(
        "/retention/",
        _posted(incident_years="3", restricted_years="7", action="purge", keep_reviews="", delivery_days="90"),
    )
    assert response.status_code == 302 and response["Location"] == "/retention/"
    saved = RetentionPolicy.current()
    assert (saved.incident_years, saved.restricted_years, saved.action, saved.keep_reviews) == (3, 7, "purge", False)
    assert (saved.delivery_days, saved.task_days) == (90, 14)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("incident_years", "-1", "Enter whole years from 1 to 100, or leave it empty to keep them for ever."),
        ("incident_years", "0", "Enter whole years from 1 to 100, or leave it empty to keep them for ever."),
        ("incident_years", "three", "Enter whole years from 1 to 100, or leave it empty to keep them for ever."),
        ("incident_years", "2.5", "Enter whole years from 1 to 100, or leave it empty to keep them for ever."),
        ("restricted_years", "101", "Enter whole years from 1 to 100, or leave it empty to keep them for ever."),
        ("delivery_days", "-30", "Enter whole days from 1 to 36500, or leave it empty to keep them for ever."),
        ("delivery_days", "1e3", "Enter whole days from 1 to 36500, or leave it empty to keep them for ever."),
        ("task_days", "", "Say how many days finished task rows are kept."),
        ("task_days", "0", "Enter whole days from 1 to 36500."),
        ("action", "shred", "Choose anonymise or purge."),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_saved(clients, db, field, value, message):
    policy(incident_years=5)
    logged = LogEntry.objects.count()
    response = clients["manager"].post("/retention/", _posted(**{"incident_years": "1", field: value}))
    assert response.status_code == 422
    assert message in response.content.decode()
    saved = RetentionPolicy.current()
    assert saved.incident_years == 5  # nothing half-written
    assert LogEntry.objects.count() == logged


def test_the_page_runs_a_fixed_number_of_queries_on_a_big_data_set(people, clients, django_assert_max_num_queries):
    service = ServiceFactory(name="Checkout")
    long_ago = now() - timedelta(days=3 * 365)
    Incident.objects.bulk_create(
        Incident(
            title=f"Old {n}",
            description="d",
            impact="i",
            occurred_at=long_ago,
            severity="low",
            service=service,
            status="closed",
            reported_at=long_ago,
            resolved_at=long_ago,
            closed_at=long_ago,
            restricted=n % 7 == 0,
        )
        for n in range(400)
    )
    policy()
    for _ in range(8):
        RetentionRun.objects.create(counts={"incidents_anonymised": 3}, finished_at=now())
    with django_assert_max_num_queries(11):
        response = clients["manager"].get("/retention/")
    assert response.status_code == 200
    assert '<td>Incidents anonymised</td><td class="text-end">400</td>' in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_incident_someone_holds_is_left_for_the_next_run_and_the_rest_goes_on(people):
    """PostgreSQL: rows are taken with FOR UPDATE SKIP LOCKED, never a table lock; a closed incident
    another transaction holds (an edit, an admin) waits for the next run instead of blocking this one."""
    import threading

    from django.db import connection as main
    from django.db import transaction

    if main.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    held, free = old(people, years_ago=3), old(people, years_ago=3)
    rule = policy()
    locked, release = threading.Event(), threading.Event()

    def holder():
        from django.db import connection

        try:
            with transaction.atomic():
                Incident.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(10)
        assert retention.apply(rule)["incidents_anonymised"] == 1
    finally:
        release.set()
        thread.join()
    assert Incident.objects.get(pk=free.pk).anonymised_at is not None
    assert Incident.objects.get(pk=held.pk).anonymised_at is None
    assert retention.apply(rule)["incidents_anonymised"] == 1  # the next run takes it


def test_an_edit_alone_or_with_a_note_after_anonymisation_is_anonymised_again(people):
    edited, both = old(people, years_ago=3), old(people, years_ago=3)
    rule = policy()
    retention.apply(rule)
    for incident in (edited, both):
        incident.refresh_from_db()
        incident.logs = f"seen {NAME} again"
        incident.save()
    workflow.add_note(both, by=people["responder"], text="And again.")
    assert counts(retention.preview(rule))["incidents_anonymised"] == 2
    assert retention.apply(rule)["incidents_anonymised"] == 2
    assert rows_mentioning(MARKER) == []


def test_links_lose_who_made_them_whichever_end_is_anonymised(people):
    first, second = old(people, years_ago=3), old(people, years_ago=3)
    recent = make_incident(by=people["reporter"], title="Recent")
    IncidentLink.objects.create(from_incident=first, to_incident=second, kind="related", created_by=people["responder"])
    IncidentLink.objects.create(
        from_incident=recent, to_incident=first, kind="caused_by", created_by=people["responder"]
    )
    IncidentLink.objects.create(
        from_incident=second, to_incident=recent, kind="related", created_by=people["responder"]
    )
    retention.apply(policy())
    assert IncidentLink.objects.count() == 3
    assert not IncidentLink.objects.filter(created_by__isnull=False).exists()


def test_a_purge_counts_only_what_it_removed(people):
    bare = make_incident(by=people["reporter"], title="Bare")
    workflow.acknowledge(bare, by=people["responder"])
    workflow.resolve(bare, by=people["responder"], summary="Done.", confirmed=True)
    workflow.close(bare, by=people["manager"])
    Incident.objects.filter(pk=bare.pk).update(closed_at=now() - timedelta(days=1200))
    # An incident with nothing else to cascade.
    TimelineEntry.objects.filter(incident=bare).delete()
    Notification.objects.filter(incident=bare).delete()
    rule = policy(action=RetentionPolicy.Action.PURGE, keep_reviews=False)
    expected = dict.fromkeys(retention.KINDS, 0) | {"incidents_purged": 1}
    assert counts(retention.preview(rule)) == expected
    assert retention.apply(rule) == expected


def test_a_purge_set_on_the_page_purges_from_the_command(people, clients):
    gone = old(people, years_ago=3)
    clients["manager"].post("/retention/", _posted(incident_years="2", action="purge", keep_reviews=""))
    call_command("apply_retention", stdout=io.StringIO())
    assert not Incident.objects.filter(pk=gone.pk).exists()


def test_a_batch_whose_work_removes_nothing_is_not_taken_again(people):
    incident = old(people, years_ago=3)
    calls = []

    def leaves_it(ids):
        calls.append(ids)
        assert len(calls) < 3, "the same batch was taken again and again"

    retention._in_batches(Incident.objects.filter(pk=incident.pk), 1, leaves_it)
    assert calls == [[incident.pk]]
