"""The timeline, notes, status updates and following through the API (incidents/api/timeline.py):
cursor pages that neither skip nor repeat, notes with the page's rules, need-to-know, bounded queries."""

import pytest

from incidents import workflow
from incidents.api.tests.support import call, integration_token, personal_token
from incidents.models import Subscription, TimelineEntry
from incidents.tests.factories import make_incident


@pytest.fixture
def incident(reporter, responder):
    made = make_incident(by=reporter)
    workflow.acknowledge(made, by=responder)
    for n in range(5):
        workflow.add_note(made, by=responder, text=f"Finding {n}")
    return made


def _read_all(url: str, token: str) -> list[dict]:
    items, next_url, pages = [], url, 0
    while next_url:
        response = call("get", next_url.removeprefix("http://testserver"), token)
        assert response.status_code == 200, response.json()
        items += response.json()["items"]
        next_url = response.json()["next"]
        pages += 1
        assert pages < 20
    return items


def test_the_timeline_reads_page_by_page_and_then_only_what_is_new(incident, viewer, responder):
    token = personal_token(viewer)
    url = f"/api/incidents/{incident.ref}/timeline"
    every = _read_all(f"{url}?limit=2", token)
    expected = list(TimelineEntry.objects.filter(incident=incident).order_by("created_at", "pk"))
    assert [item["id"] for item in every] == [entry.pk for entry in expected]
    assert every[0]["kind"] == "reported" and every[0]["author"] == "rita"
    assert every[1]["kind"] == "status_change"
    assert every[1]["details"] == {"old": "reported", "new": "acknowledged", "lead": "Rob Responder"}
    last = call("get", f"{url}?limit=100", token).json()
    assert last["has_more"] is False and last["next"] is None
    # Polling with the last cursor: nothing, then only what was added since.
    empty = call("get", f"{url}?after={last['cursor']}", token).json()
    assert empty == {"cursor": None, "has_more": False, "next": None, "items": []}
    workflow.add_note(incident, by=responder, text="Later")
    newer = call("get", f"{url}?after={last['cursor']}", token).json()
    assert [item["text"] for item in newer["items"]] == ["Later"]


def test_the_timeline_newest_first_and_by_kind(incident, viewer):
    token = personal_token(viewer)
    url = f"/api/incidents/{incident.ref}/timeline"
    newest = _read_all(f"{url}?order=newest&limit=3", token)
    assert [item["id"] for item in newest] == sorted((item["id"] for item in newest), reverse=True)
    notes = call("get", f"{url}?kind=note&kind=status_change", token).json()["items"]
    assert {item["kind"] for item in notes} == {"note", "status_change"}
    assert [n["text"] for n in call("get", f"/api/incidents/{incident.ref}/notes", token).json()["items"]] == [
        f"Finding {n}" for n in range(5)
    ]


def test_an_entrys_bookkeeping_stays_inside(reporter, responder):
    """Only what the page shows of an entry's data is given out: a linked incident's id is not."""
    one, other = make_incident(by=reporter), make_incident(by=reporter, title="Other")
    workflow.link(one, other=other, kind="related", by=responder)
    items = call("get", f"/api/incidents/{one.ref}/timeline?kind=link", personal_token(responder)).json()["items"]
    assert items[0]["details"] == {"action": "linked", "label": items[0]["details"]["label"]}
    assert "other_id" not in items[0]["details"] and "link_id" not in items[0]["details"]


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("after=bm9wZQ", "after", "This is not a cursor Beacon gave out: send back the `cursor` of a previous page."),
        ("after=%25%25", "after", "This is not a cursor Beacon gave out: send back the `cursor` of a previous page."),
        # Well formed, but its moment does not fit in UTC: refused, not a database error.
        ("after=MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHwx", "after", None),
        ("limit=0", "limit", "Input should be greater than or equal to 1."),
        ("limit=201", "limit", "Input should be less than or equal to 200."),
        ("kind=gossip", "kind.0", None),
        ("order=sideways", "order", None),
        ("page=2", "page", "Unknown query parameter."),
    ],
)
def test_bad_queries_name_the_parameter(incident, viewer, query, field, message):
    response = call("get", f"/api/incidents/{incident.ref}/timeline?{query}", personal_token(viewer))
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert field in [error["field"] for error in errors], errors
    if message:
        assert {"field": field, "message": message} in errors


def test_reading_the_timeline_costs_the_same_for_a_long_one(incident, responder, viewer, django_assert_max_num_queries):
    token = personal_token(viewer)
    url = f"/api/incidents/{incident.ref}/timeline?limit=200"
    call("get", url, token)  # the first request of a token stamps its last use
    # The token, the caller's permissions (two), the incident, one page of entries.
    with django_assert_max_num_queries(5):
        short = call("get", url, token)
    for n in range(60):
        TimelineEntry.objects.create(incident=incident, author=responder, kind="note", text=f"n{n}")
    with django_assert_max_num_queries(5):
        long = call("get", url, token)
    assert len(long.json()["items"]) == len(short.json()["items"]) + 60


def test_a_restricted_incidents_history_is_not_found_by_outsiders(reporter, responder, manager):
    secret = make_incident(by=reporter, restricted=True)
    workflow.add_note(secret, by=manager, text="Keys leaked.")
    for url in ["timeline", "notes", "updates"]:
        response = call("get", f"/api/incidents/{secret.ref}/{url}", personal_token(responder))
        assert response.status_code == 404, url
        assert call("get", f"/api/incidents/{secret.ref}/{url}", integration_token(f"bot {url}")).status_code == 404
        assert call("get", f"/api/incidents/{secret.ref}/{url}", personal_token(manager)).status_code == 200
    note = call("post", f"/api/incidents/{secret.ref}/notes", personal_token(responder), {"text": "Hello?"})
    assert note.status_code == 404
    assert call("post", f"/api/incidents/{secret.ref}/follow", personal_token(responder)).status_code == 404
    assert not Subscription.objects.filter(incident=secret, user=responder).exists()


# --- notes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, own, status",
    [
        ("responder", False, 201),
        ("manager", False, 201),
        ("reporter", True, 201),  # a reporter notes their own report (note_own_incident)
        ("reporter", False, 403),
        ("viewer", False, 403),
        ("nobody", False, 403),
    ],
)
def test_who_may_add_a_note_is_who_may_on_the_page(who, own, status, users, reporter, manager):
    incident = make_incident(by=reporter if own else manager)
    count = incident.timeline.count()
    response = call("post", f"/api/incidents/{incident.ref}/notes", personal_token(users[who]), {"text": " Seen it. "})
    assert response.status_code == status, response.json()
    if status == 201:
        assert response.json()["text"] == "Seen it." and response.json()["author"] == users[who].username
        assert response.json()["details"] == {"via": "api"}
        assert incident.timeline.count() == count + 1
    else:
        assert incident.timeline.count() == count


def test_an_integration_notes_as_beacon(reporter):
    incident = make_incident(by=reporter)
    response = call("post", f"/api/incidents/{incident.ref}/notes", integration_token(), {"text": "Deploy 42 done."})
    assert response.status_code == 201
    assert response.json()["author"] is None


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"text": "   "}, "text", "This field is required."),
        ({}, "text", "This field is required."),
        ({"text": "x" * 20001}, "text", "Ensure this value has at most 20000 characters (it has 20001)."),
        ({"text": "a\x00"}, "text", "Null characters are not allowed."),
        ({"text": "ok", "public": True}, "public", "Unknown field."),
    ],
)
def test_a_bad_note_names_the_field_and_writes_nothing(reporter, responder, body, field, message):
    incident = make_incident(by=reporter)
    count = incident.timeline.count()
    response = call("post", f"/api/incidents/{incident.ref}/notes", personal_token(responder), body)
    assert response.status_code == 422
    assert {"field": field, "message": message} in response.json()["detail"]
    assert incident.timeline.count() == count


def test_a_retried_note_with_its_idempotency_key_lands_once(reporter, responder):
    incident = make_incident(by=reporter)
    token = personal_token(responder)
    url = f"/api/incidents/{incident.ref}/notes"
    first = call("post", url, token, {"text": "Once."}, HTTP_IDEMPOTENCY_KEY="note-key-0001")
    again = call("post", url, token, {"text": "Once."}, HTTP_IDEMPOTENCY_KEY="note-key-0001")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    other = call("post", url, token, {"text": "Different."}, HTTP_IDEMPOTENCY_KEY="note-key-0001")
    assert other.status_code == 422 and other.json()["detail"][0]["field"] == "Idempotency-Key"
    bad = call("post", url, token, {"text": "x"}, HTTP_IDEMPOTENCY_KEY="no")
    assert bad.status_code == 422
    assert incident.timeline.filter(kind=TimelineEntry.Kind.NOTE).count() == 1


# --- status updates ----------------------------------------------------------------------


def test_status_updates_are_listed_page_by_page_and_by_visibility(reporter, responder, viewer):
    incident = make_incident(by=reporter)
    for n in range(4):
        workflow.post_update(incident, by=responder, message=f"Update {n}", public=n % 2 == 0)
    token = personal_token(viewer)
    url = f"/api/incidents/{incident.ref}/updates"
    every = _read_all(f"{url}?limit=3", token)
    assert [u["message"] for u in every] == [f"Update {n}" for n in range(4)]
    public = call("get", f"{url}?public=true", token).json()["items"]
    assert call("get", f"{url}?public=yes", token).json()["detail"] == [
        {"field": "public", "message": "Enter true or false."}
    ]
    assert [u["message"] for u in public] == ["Update 0", "Update 2"]
    assert call("get", f"{url}?order=newest&limit=1", token).json()["items"][0]["message"] == "Update 3"
    # Posting is still POST on the same path.
    posted = call("post", url, personal_token(responder), {"message": "Update 4"})
    assert posted.status_code == 201


# --- following ---------------------------------------------------------------------------


def test_following_and_unfollowing_oneself(reporter, viewer):
    incident = make_incident(by=reporter)
    token = personal_token(viewer)
    for _ in range(2):  # twice is fine
        response = call("post", f"/api/incidents/{incident.ref}/follow", token)
        assert response.status_code == 200 and response.json() == {"following": True}
    assert Subscription.objects.filter(incident=incident, user=viewer).count() == 1
    response = call("post", f"/api/incidents/{incident.ref}/unfollow", token)
    assert response.json() == {"following": False}
    assert not Subscription.objects.filter(incident=incident, user=viewer).exists()
    refused = call("post", f"/api/incidents/{incident.ref}/follow", integration_token())
    assert refused.status_code == 403
    assert call("post", "/api/incidents/INC-999999/follow", token).status_code == 404


def test_who_follows_is_for_those_who_see_the_delivery_ledger(
    reporter, responder, viewer, manager, django_assert_max_num_queries
):
    incident = make_incident(by=reporter)
    for user in (viewer, responder, reporter):
        Subscription.objects.create(user=user, incident=incident)
    Subscription.objects.create(email="cfo@example.com", service=incident.service)
    token = personal_token(manager)
    url = f"/api/incidents/{incident.ref}/followers"
    call("get", url, token)
    with django_assert_max_num_queries(5):
        assert len(call("get", f"{url}?limit=100", token).json()["items"]) == 3
    listed = _read_all(f"{url}?limit=2", token)
    assert [f["username"] for f in listed] == ["vic", "rob", "rita"]
    for who in (responder, viewer):
        assert call("get", url, personal_token(who)).status_code == 403
    assert call("get", url, integration_token()).status_code == 403
