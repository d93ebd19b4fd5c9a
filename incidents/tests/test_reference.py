"""The reference data alert deliveries keep per process (incidents/reference.py): read once per
change, never stale, whichever process changed it."""

# ruff: noqa: F811 - pytest fixtures imported from support.py are redefined as arguments

import datetime as dt

import pytest
import time_machine
from django.db import connection, transaction

from incidents import reference
from incidents.alerts.tests.support import am, integration, load  # noqa: F401
from incidents.models import (
    ChecklistItem,
    CustomField,
    Incident,
    IncidentType,
    Notification,
    ReferenceGeneration,
    Rotation,
    Service,
    Webhook,
)
from incidents.models.webhooks import Event
from incidents.oncall.tests.data import make_rotation

# A Wednesday noon in London: the daily rotation's shift 9 since 5 January, members[9 % 2].
NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)


def _new_group(payload: dict, n: int) -> dict:
    """`payload` as a new group with a new alert: each post opens an incident."""
    payload["groupKey"] = f'{{}}:{{alertname="Ref{n}"}}'
    for alert in payload["alerts"]:
        alert["fingerprint"] = f"ref{n:012d}"
    return payload


def _elsewhere(sql: str, params=()) -> None:
    """What another process does: a change and its count, without this process's signals (the
    model's bump leaves this process's copies alone, as another process's would)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    ReferenceGeneration.bump()


@pytest.fixture
def downtime(db):
    return IncidentType.objects.get(slug="downtime")


@pytest.fixture
def warm(am, downtime):
    """Two incidents opened: the first creates the alert's service (a bump), the second keeps
    what it read at the count that followed."""
    for n in (1, 2):
        assert am.post(_new_group(load("firing"), n)).json()["created"]
    return am


def test_a_delivery_opening_an_incident_reads_the_reference_data_once_per_change(warm, downtime):
    """The third incident opened from an alert does not read the service, type, fields, checklist,
    webhooks or on-call rotations again: six queries fewer than the second, which read them after
    a change."""
    from django.test.utils import CaptureQueriesContext

    reference.bump()  # as a change elsewhere would
    with CaptureQueriesContext(connection) as second:
        assert warm.post(_new_group(load("firing"), 3)).json()["created"]
    with CaptureQueriesContext(connection) as third:
        assert warm.post(_new_group(load("firing"), 4)).json()["created"]
    assert len(third) == len(second) - 6, [q["sql"][:80] for q in third.captured_queries]
    read = " ".join(q["sql"] for q in third.captured_queries)
    tables = ("service", "customfield", "checklistitem", "webhook", "rotation", "incidenttype")
    for table in (f"incidents_{name}" for name in tables):
        assert f'FROM "{table}"' not in read, table
    # The kept copies made the same incident: the checklist's tasks, the service.
    before, latest = Incident.objects.order_by("-pk")[1], Incident.objects.order_by("-pk")[0]
    assert latest.service_id == before.service_id
    titles = list(latest.tasks.order_by("position").values_list("title", flat=True))
    assert titles == list(before.tasks.order_by("position").values_list("title", flat=True))
    assert len(titles) == downtime.checklist.count() > 0


def test_a_change_committed_by_another_process_is_read_by_the_next_delivery(warm, downtime):
    """Another process adds a checklist item and a webhook, and renames the alert's service: this
    process hears of none of it, yet its next delivery uses all three (the count moved)."""
    service = Incident.objects.order_by("pk").first().service

    _elsewhere(
        "INSERT INTO incidents_checklistitem (type_id, title, required, position) VALUES (%s, %s, %s, %s)",
        [downtime.pk, "Page the database team", False, 999],
    )
    _elsewhere(
        "INSERT INTO incidents_webhook (name, url, events, include_restricted, is_active, secret, secret_hint, "
        "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, CURRENT_TIMESTAMP)",
        ["elsewhere", "https://hooks.example/beacon", '["incident.created"]', False, True, "s" * 40, "ssss"],
    )
    _elsewhere("UPDATE incidents_service SET name = %s, slug = %s WHERE id = %s", ["Renamed", "renamed", service.pk])

    assert warm.post(_new_group(load("firing"), 3)).json()["created"]
    latest = Incident.objects.order_by("-pk").first()
    assert "Page the database team" in latest.tasks.values_list("title", flat=True)
    hook = Webhook.objects.get(name="elsewhere")
    assert Notification.objects.filter(incident=latest, recipient=hook.destination).exists()
    # The alert's service label no longer names the renamed one: a service of that name is made.
    assert latest.service_id != service.pk and latest.service.name == service.name


def test_without_a_bump_the_kept_copy_is_used(warm, downtime):
    """The other side of the contract (the module's docstring): a write that bypasses the signals
    and does not bump is not seen by a process that kept the rows. This is why bulk writes to
    these tables must call reference.bump()."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO incidents_checklistitem (type_id, title, required, position) VALUES (%s, %s, %s, %s)",
            [downtime.pk, "Unseen without a bump", False, 999],
        )
    assert warm.post(_new_group(load("firing"), 3)).json()["created"]
    assert "Unseen without a bump" not in Incident.objects.order_by("-pk").first().tasks.values_list("title", flat=True)


@pytest.mark.parametrize("change", ["field", "checklist", "webhook", "type", "service"])
def test_a_change_through_the_orm_or_the_admin_is_read_by_the_next_delivery(warm, downtime, change):
    """Every model kept bumps the count on save and delete (the admin saves through the ORM)."""
    if change == "field":
        CustomField.objects.create(type=downtime, label="Region", name="region", kind="text")
    elif change == "checklist":
        ChecklistItem.objects.filter(type=downtime).first().delete()
    elif change == "webhook":
        Webhook.objects.create(name="new", url="https://hooks.example/x", events=[Event.INCIDENT_CREATED])
    elif change == "type":
        downtime.restricted_by_default = True
        downtime.save()
    else:
        service = Incident.objects.order_by("pk").first().service
        service.name, service.slug = "Renamed", "renamed"
        service.save()

    payload = _new_group(load("firing"), 3)
    payload["commonLabels"]["region"] = "eu-west-1"
    assert warm.post(payload).status_code == 200
    latest = Incident.objects.order_by("-pk").first()
    if change == "field":
        assert latest.custom_fields.get("region") == "eu-west-1"
    elif change == "checklist":
        assert latest.tasks.count() == downtime.checklist.count()
    elif change == "webhook":
        assert Notification.objects.filter(incident=latest, channel=Notification.Channel.WEBHOOK).exists()
    elif change == "type":
        assert latest.restricted
    else:
        assert latest.service.name != "Renamed"


def test_a_bump_drops_this_processs_copies_and_keeps_none_until_the_delivery_ends(db):
    """Rows read after a bump may be the transaction's own, uncommitted: never kept."""
    built = []

    def build():
        built.append(1)
        return [len(built)]

    generation = ReferenceGeneration.objects.get(pk=1).generation
    with reference.at(generation):
        assert reference.kept("k", build) == [1]
        assert reference.kept("k", build) == [1] and len(built) == 1
        copy = reference.kept("k", build)
        copy.append("changed by a caller")
        assert reference.kept("k", build) == [1]  # each answer is a copy
        with transaction.atomic():
            Service.objects.create(name="Made in this delivery", slug="made-here")  # bumps
            assert reference.kept("k", build) == [2]
            assert reference.kept("k", build) == [3]  # not kept after the bump
            transaction.set_rollback(True)
    with reference.at(generation):  # the bump rolled back: the count is the old one again
        assert reference.kept("k", build) == [4]  # but this process's copies were dropped
        assert reference.kept("k", build) == [4]
    assert reference.kept("k", build) == [5]  # outside a delivery: always built


def test_outside_a_delivery_nothing_is_kept(db, downtime, django_assert_num_queries):
    from incidents import typefields

    with django_assert_num_queries(1):
        typefields.definitions(downtime)
    with django_assert_num_queries(1):
        typefields.definitions(downtime)


@time_machine.travel(NOON, tick=False)
def test_who_is_on_call_follows_an_override_or_a_deactivation_at_once(am, responder, other_responder):
    """The rotations are kept too, and who is on call is still worked out for the instant: an
    override another process adds, or an account deactivated here, changes the next lead."""
    make_rotation("Everything", members=[responder, other_responder], default=True)

    def lead_of_next(n: int):
        assert am.post(_new_group(load("firing"), n)).json()["created"]
        return Incident.objects.order_by("-pk").first().lead

    assert lead_of_next(1) == other_responder
    assert lead_of_next(2) == other_responder  # from the kept rotations
    rotation = Rotation.objects.get()
    _elsewhere(
        'INSERT INTO incidents_override (rotation_id, user_id, start, "end", created_at, reason) '
        "VALUES (%s, %s, %s, %s, %s, %s)",
        [rotation.pk, responder.pk, NOON - dt.timedelta(hours=1), NOON + dt.timedelta(hours=1), NOON, "swap"],
    )
    assert lead_of_next(3) == responder
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM incidents_override")
    reference.bump()
    assert lead_of_next(4) == other_responder

    other_responder.is_active = False
    other_responder.save()
    assert lead_of_next(5) == responder


@time_machine.travel(NOON, tick=False)
def test_a_rotation_given_the_service_answers_for_it_at_once(am, responder, other_responder):
    """Adding a service to a rotation (a many-to-many change, no save of either row) is a change
    too: the service's own rotation answers before the default one."""
    make_rotation("Everything", members=[other_responder], default=True)
    own = make_rotation("Own", members=[responder])

    def lead_of_next(n: int):
        assert am.post(_new_group(load("firing"), n)).json()["created"]
        return Incident.objects.order_by("-pk").first()

    assert lead_of_next(1).lead == other_responder
    incident = lead_of_next(2)
    assert incident.lead == other_responder  # from the kept rotations
    own.services.add(incident.service)
    assert lead_of_next(3).lead == responder


def test_a_sign_in_does_not_move_the_count(client, responder):
    """Every sign-in saves last_login, which nothing kept shows: the copies stay."""
    before = ReferenceGeneration.objects.get(pk=1).generation
    client.force_login(responder)
    responder.refresh_from_db()
    assert responder.last_login is not None
    assert ReferenceGeneration.objects.get(pk=1).generation == before
    responder.first_name = "Robin"
    responder.save()
    assert ReferenceGeneration.objects.get(pk=1).generation == before + 1
