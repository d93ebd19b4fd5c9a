"""Incident types with their custom fields, and who is on call, through the API
(incidents/api/catalog.py): what a script needs before it reports or pages someone."""

import datetime as dt

import pytest
import time_machine

from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import CustomField, IncidentType
from incidents.oncall.tests.data import make_override, make_rotation
from incidents.tests.factories import ServiceFactory

NOON = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)


def test_types_come_with_their_custom_fields(viewer, django_assert_max_num_queries):
    security = IncidentType.objects.get(slug="security")
    CustomField.objects.create(
        type=security, label="Data affected?", kind="choice", choices="yes\nno\n\nunknown", required=True, position=1
    )
    CustomField.objects.create(type=security, label="Legal contact", kind="user", help_text="Who talks to legal.")
    token = personal_token(viewer)
    call("get", "/api/types", token)
    with django_assert_max_num_queries(5):  # the token, its permissions (2), the types, their fields
        listed = call("get", "/api/types", token)
    assert listed.status_code == 200
    assert [t["slug"] for t in listed.json()] == ["downtime", "performance", "security"]
    one = call("get", "/api/types/security", token).json()
    assert one == next(t for t in listed.json() if t["slug"] == "security")
    assert one["restricted_by_default"] is True and one["default_severity"] == "high"
    assert one["fields"] == [
        {
            "name": "data_affected",
            "label": "Data affected?",
            "kind": "choice",
            "required": True,
            "choices": ["yes", "no", "unknown"],
            "help_text": "",
        },
        {
            "name": "legal_contact",
            "label": "Legal contact",
            "kind": "user",
            "required": False,
            "choices": [],
            "help_text": "Who talks to legal.",
        },
    ]
    assert call("get", "/api/types/downtime", token).json()["default_severity"] is None


def test_an_unknown_type_is_a_404_naming_the_types(viewer):
    response = call("get", "/api/types/outage", personal_token(viewer))
    assert response.status_code == 404
    assert response.json() == {
        "detail": "There is no incident type “outage”; the types are: downtime, performance, security."
    }
    assert call("get", "/api/types?x=1", personal_token(viewer)).status_code == 422
    # A NUL cannot be a slug (PostgreSQL would refuse the query): not found, not a 500.
    assert call("get", "/api/types/a%00b", personal_token(viewer)).status_code == 404


@pytest.fixture
def board(responder, other_responder, manager):
    checkout = ServiceFactory(name="Checkout", slug="checkout")
    ServiceFactory(name="Search", slug="search")
    rotation = make_rotation("Checkout primary", members=[responder, other_responder], services=[checkout])
    make_rotation("Everything else", members=[manager], default=True)
    return rotation


@time_machine.travel(NOON, tick=False)
def test_who_is_on_call_now_and_next_per_service(board, viewer, other_responder, django_assert_max_num_queries):
    token = personal_token(viewer)
    call("get", "/api/oncall", token)
    with django_assert_max_num_queries(9):  # the token and permissions (3), the board (five at most)
        response = call("get", "/api/oncall", token)
    assert response.status_code == 200
    rows = {row["service"]["slug"]: row for row in response.json()}
    assert list(rows) == ["checkout", "search"]
    checkout = rows["checkout"]
    # Daily shifts from 5 January, 09:00 London: on 14 January (shift 9) it is the second member.
    assert checkout["rotation"] == "Checkout primary"
    assert checkout["now"]["person"] == {"username": "ola", "name": "Ola Oncall"}
    assert checkout["now"]["start"] == "2026-01-14T09:00:00Z" and checkout["now"]["end"] == "2026-01-15T09:00:00Z"
    assert checkout["next"]["person"]["username"] == "rob"
    assert checkout["next"]["start"] == "2026-01-15T09:00:00Z"
    # A service without its own rotation falls back to the default one, as paging does.
    assert rows["search"]["rotation"] == "Everything else"
    assert rows["search"]["now"]["person"]["username"] == "maya"
    only = call("get", "/api/oncall?service=search", token).json()
    assert [row["service"]["slug"] for row in only] == ["search"]
    # Integrations may read it too: a chat bot answering "who is on call?".
    assert call("get", "/api/oncall", integration_token()).status_code == 200


@time_machine.travel(NOON, tick=False)
def test_an_override_shows_who_really_answers(board, viewer, manager):
    make_override(board, manager, NOON - dt.timedelta(hours=1), NOON + dt.timedelta(hours=2))
    row = call("get", "/api/oncall?service=checkout", personal_token(viewer)).json()[0]
    assert row["now"]["person"]["username"] == "maya" and row["now"]["override"] is True


def test_nobody_on_call_and_bad_filters(viewer):
    ServiceFactory(name="Checkout", slug="checkout")
    token = personal_token(viewer)
    assert call("get", "/api/oncall", token).json() == [
        {"service": {"slug": "checkout", "name": "Checkout"}, "rotation": None, "now": None, "next": None}
    ]
    response = call("get", "/api/oncall?service=nope", token)
    assert response.status_code == 422
    assert response.json() == {"detail": [{"field": "service", "message": "There is no service with the slug “nope”."}]}
    assert call("get", "/api/oncall?team=a", token).json()["detail"][0]["field"] == "team"


def test_the_schema_describes_each_kind_with_its_own_values(viewer):
    """Two choices classes of one name (TimelineEntry.Kind, CustomField.Kind) once shared a schema
    component, and the timeline's kinds were described as custom field kinds."""
    schemas = call("get", "/api/openapi.json", personal_token(viewer)).json()["components"]["schemas"]

    def values(schema: str, field: str) -> set:
        found = schemas[schema]["properties"][field]
        found = schemas[found["$ref"].rsplit("/", 1)[-1]] if "$ref" in found else found
        return set(found["enum"])

    assert {"reported", "note", "status_change"} <= values("EntryOut", "kind")
    assert values("CustomFieldOut", "kind") == {"text", "number", "choice", "date", "user"}
    assert values("ReviewOut", "state") == {"draft", "in_review", "published"}
    assert values("ActionItemOut", "state") == {"open", "done", "wont_do"}
