"""Reviews and action items through the API (reviews/api.py, mounted through incidents/panels.py):
each role gets what the review pages give it, need-to-know holds, a stale review version is a 409
with the review as it is now, bad input is a 422 that writes nothing, lists cost a fixed number of queries."""

import pytest
from django.utils.timezone import localdate

from incidents import workflow
from incidents.api.tests.support import call, integration_token, personal_token
from reviews.models import ActionItem, Review
from reviews.tests.factories import backdate_due, make_item, make_review, resolved_incident

NOT_TYPE_SECTION = "Not a section this incident's type asks for."


def _token(role, users):
    return integration_token() if role == "integration" else personal_token(users[role])


@pytest.fixture
def review(responder, manager):
    return make_review(responder=responder, manager=manager, summary="The pool ran dry.")


@pytest.mark.parametrize(
    "role, status", [("nobody", 403), ("reporter", 200), ("viewer", 200), ("responder", 200), ("integration", 200)]
)
def test_reading_a_review(role, status, users, review, responder):
    make_item(review, by=responder, owner=responder)
    response = call("get", f"/api/incidents/{review.incident.ref}/review", _token(role, users))
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["incident"] == review.incident.ref and body["state"] == "draft"
        assert body["sections"]["summary"] == "The pool ran dry."
        assert body["sections"]["root_cause"] == "A bad deploy."
        assert body["authors"] == ["rob"] and body["version"] == review.version
        assert [item["title"] for item in body["action_items"]] == ["Add a canary stage"]
        assert body["action_items"][0]["owner"] == "rob" and body["action_items"][0]["incident"] == review.incident.ref


def test_no_review_yet_and_restricted_incidents_are_404(reporter, responder, manager, viewer):
    incident = resolved_incident(by=reporter, responder=responder)
    response = call("get", f"/api/incidents/{incident.ref}/review", personal_token(viewer))
    assert response.status_code == 404 and response.json() == {"detail": f"{incident.ref} has no review yet."}
    secret = make_review(responder=manager, incident=resolved_incident(by=manager, responder=manager, restricted=True))
    for token in (personal_token(responder, name="r"), integration_token()):
        assert call("get", f"/api/incidents/{secret.incident.ref}/review", token).status_code == 404
        assert call("get", "/api/action-items", token).json()["items"] == []
    assert call("get", f"/api/incidents/{secret.incident.ref}/review", personal_token(manager)).status_code == 200


@pytest.mark.parametrize(
    "role, status", [("reporter", 403), ("viewer", 403), ("integration", 403), ("responder", 201), ("manager", 201)]
)
def test_starting_a_review_is_for_those_who_write_them(role, status, users, reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder)
    response = call("post", f"/api/incidents/{incident.ref}/review", _token(role, users))
    assert response.status_code == status
    assert Review.objects.filter(incident=incident).exists() == (status == 201)
    if status == 201:
        assert response.json()["state"] == "draft"
        again = call("post", f"/api/incidents/{incident.ref}/review", _token(role, users))
        assert again.status_code == 200 and Review.objects.filter(incident=incident).count() == 1


def test_an_open_incident_has_no_review_yet(reporter, responder):
    from incidents.tests.factories import make_incident

    incident = make_incident(by=reporter)
    response = call("post", f"/api/incidents/{incident.ref}/review", personal_token(responder))
    assert response.status_code == 409
    assert response.json() == {"detail": f"{incident.ref} is reported; a review starts once it is resolved."}


def test_editing_sections_with_the_version_read(review, responder, other_responder):
    url = f"/api/incidents/{review.incident.ref}/review"
    token = personal_token(other_responder)
    saved = call("put", url, token, {"version": review.version, "sections": {"lessons_learned": "Watch the pool."}})
    assert saved.status_code == 200, saved.json()
    body = saved.json()
    assert body["sections"]["lessons_learned"] == "Watch the pool."
    assert body["sections"]["summary"] == "The pool ran dry."  # what was not sent stays
    assert body["version"] == review.version + 1 and sorted(body["authors"]) == ["ola", "rob"]
    # The same stale version again: 409 with the review as it is now; nothing changes.
    stale = call("put", url, personal_token(responder), {"version": review.version, "sections": {"summary": "Mine."}})
    assert stale.status_code == 409
    assert stale.json()["detail"].startswith(f"The review of {review.incident.ref} was changed since you opened it.")
    assert stale.json()["current"]["sections"]["lessons_learned"] == "Watch the pool."
    assert Review.objects.get(pk=review.pk).summary == "The pool ran dry."


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"sections": {"summary": "x"}}, "version", "This field is required."),
        ({"version": 1, "sections": {"ending": "x"}}, "sections.ending", "Not a section of a review."),
        (
            {"version": 1, "type_sections": {"x": "y"}},
            "type_sections.x",
            "Not a section this incident's type asks for.",
        ),
        ({"version": 1, "sections": {"summary": "a\x00"}}, "sections.summary", "Null characters are not allowed."),
        (
            {"version": 1, "sections": {"summary": "x" * 50_001}},
            "sections.summary",
            "Ensure this value has at most 50000 characters (it has 50001).",
        ),
    ],
)
def test_bad_sections_name_the_field_and_write_nothing(review, responder, body, field, message):
    response = call("put", f"/api/incidents/{review.incident.ref}/review", personal_token(responder), body)
    assert response.status_code == 422
    assert {"field": field, "message": message} in response.json()["detail"]
    assert Review.objects.get(pk=review.pk).version == review.version


def test_a_published_review_is_read_only(responder, manager):
    published = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    response = call(
        "put", f"/api/incidents/{published.incident.ref}/review", personal_token(responder), {"version": 99}
    )
    assert response.status_code == 409
    assert "published and read-only" in response.json()["detail"]


# --- action items ------------------------------------------------------------------------


def test_adding_an_action_item(review, responder, viewer):
    url = f"/api/incidents/{review.incident.ref}/review/action-items"
    body = {"title": " Alert on pool use ", "owner": "VIC", "type": "detective", "priority": "high"}
    added = call("post", url, personal_token(responder), body)
    assert added.status_code == 201, added.json()
    item = added.json()
    assert item["title"] == "Alert on pool use" and item["owner"] == "vic" and item["state"] == "open"
    assert item["due_date"] > localdate().isoformat() and item["overdue"] is False
    assert call("post", url, personal_token(viewer), body).status_code == 403
    assert call("post", url, integration_token(), body).status_code == 403
    assert ActionItem.objects.count() == 1


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"owner": "ghost"}, "owner", "There is nobody with a role and the username “ghost”."),
        ({"title": "   "}, "title", "This field is required."),
        ({"type": "magic"}, "type", None),
        ({"tracker_url": "ftp://x.example/1"}, "tracker_url", None),
        ({"due_date": "2026-13-01"}, "due_date", None),
        ({"due_date": 1767225600}, "due_date", "Enter a day like 2026-03-01."),
        ({"colour": "red"}, "colour", "Unknown field."),
    ],
)
def test_a_bad_action_item_names_the_field_and_writes_nothing(review, responder, changes, field, message):
    body = {"title": "Alert on pool use", "owner": "rob", "type": "detective", **changes}
    response = call(
        "post", f"/api/incidents/{review.incident.ref}/review/action-items", personal_token(responder), body
    )
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["detail"]], response.json()
    if message:
        assert {"field": field, "message": message} in response.json()["detail"]
    assert not ActionItem.objects.exists()


def test_changing_an_action_item_keeps_what_is_not_sent(review, responder, viewer):
    item = make_item(review, by=responder, owner=responder)
    url = f"/api/action-items/{item.pk}"
    changed = call("patch", url, personal_token(responder), {"owner": "vic", "priority": "low"})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["owner"] == "vic" and changed.json()["priority"] == "low"
    assert changed.json()["title"] == "Add a canary stage" and changed.json()["type"] == "preventive"
    assert call("patch", url, personal_token(viewer), {"priority": "high"}).status_code == 403
    refused = call("patch", url, personal_token(responder), {"title": None})
    assert refused.status_code == 422
    assert call("patch", "/api/action-items/999999", personal_token(responder), {}).status_code == 404
    assert call("patch", f"/api/action-items/{2**63}", personal_token(responder), {}).status_code == 422


def test_its_owner_or_an_author_changes_an_items_state(review, responder, viewer, reporter):
    item = make_item(review, by=responder, owner=viewer)
    url = f"/api/action-items/{item.pk}/state"
    assert call("post", url, personal_token(reporter), {"state": "done"}).status_code == 403
    no_reason = call("post", url, personal_token(viewer), {"state": "wont_do"})
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"] == [{"field": "reason", "message": "Say why this action item will not be done."}]
    done = call("post", url, personal_token(viewer), {"state": "done"})
    assert done.status_code == 200 and done.json()["state"] == "done" and done.json()["closed_at"]
    again = call("post", url, personal_token(responder), {"state": "done"})
    assert again.status_code == 409
    assert call("post", url, integration_token(), {"state": "open"}).status_code == 403


def test_listing_action_items_with_the_list_pages_filters(
    review, responder, viewer, manager, django_assert_max_num_queries
):
    late = backdate_due(make_item(review, by=responder, owner=viewer, title="Late one"), 3)
    make_item(review, by=responder, owner=responder, title="Rob's", priority=ActionItem.Priority.LOW)
    other = make_review(responder=manager, incident=resolved_incident(by=manager, responder=manager))
    make_item(other, by=manager, owner=manager, title="Maya's", type=ActionItem.Type.CORRECTIVE)
    token = personal_token(viewer)
    call("get", "/api/action-items", token)
    with django_assert_max_num_queries(6):
        everything = call("get", "/api/action-items?limit=200", token).json()["items"]
    assert [i["title"] for i in everything] == ["Late one", "Rob's", "Maya's"]

    def titles(query):
        response = call("get", f"/api/action-items?{query}", token)
        assert response.status_code == 200, response.json()
        return [i["title"] for i in response.json()["items"]]

    assert titles("owner=vic") == ["Late one"]
    assert titles("overdue=true") == ["Late one"]
    assert titles("priority=low") == ["Rob's"]
    assert titles("type=corrective") == ["Maya's"]
    assert titles(f"service={review.incident.service.slug}") == ["Late one", "Rob's", "Maya's"]
    workflow_done = call("post", f"/api/action-items/{late.pk}/state", token, {"state": "done"})
    assert workflow_done.status_code == 200
    assert titles("state=done") == ["Late one"]
    first = call("get", "/api/action-items?limit=2", token).json()
    assert first["has_more"] is True
    rest = call("get", first["next"].removeprefix("http://testserver"), token).json()
    assert [i["title"] for i in rest["items"]] == ["Maya's"]
    bad = [("owner=ghost", "owner"), ("service=nope", "service"), ("state=lost", "state"), ("x=1", "x")]
    for query, field in bad + [("overdue=1", "overdue")]:
        response = call("get", f"/api/action-items?{query}", token)
        assert response.status_code == 422 and response.json()["detail"][0]["field"] == field, query


def test_an_integration_reads_but_does_not_write(review, responder):
    item = make_item(review, by=responder, owner=responder)
    token = integration_token()
    assert call("get", "/api/action-items", token).status_code == 200
    assert call("patch", f"/api/action-items/{item.pk}", token, {"priority": "low"}).status_code == 403
    assert call("put", f"/api/incidents/{review.incident.ref}/review", token, {"version": 1}).status_code == 403
    workflow.add_note(review.incident, by=None, text="ok")  # Beacon itself may still note it
