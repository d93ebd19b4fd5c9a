"""Action items: adding (defaults, bad input), state changes, the list and its filters, overdue, my items."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils.timezone import localdate

from incidents.tests.factories import ServiceFactory
from incidents.workflow import InvalidTransition
from reviews import lifecycle
from reviews.models import ActionItem, Review
from reviews.templatetags.review_tags import my_action_items
from reviews.tests.factories import backdate_due, make_item, make_review, resolved_incident


@pytest.fixture
def review(responder):
    return make_review(responder=responder)


def _add(client, review, **data):
    values = {"title": "Alert on pool size", "owner": "", "type": "detective", "priority": "high"}
    values.update(data)
    return client.post(f"/reviews/{review.incident.ref}/actions/add/", values)


def test_it_adds_an_item_with_the_due_date_from_its_priority(clients, review, responder, manager):
    response = _add(clients["responder"], review, owner=manager.pk, priority="high")
    assert response.status_code == 302
    item = ActionItem.objects.get()
    assert (item.owner, item.type, item.state, item.created_by) == (manager, "detective", "open", responder)
    assert item.due_date == localdate() + timedelta(weeks=4)

    _add(clients["responder"], review, owner=manager.pk, priority="low", title="Write it down")
    assert ActionItem.objects.get(title="Write it down").due_date == localdate() + timedelta(weeks=8)


def test_due_weeks_come_from_settings(settings, review, responder):
    settings.ACTION_ITEM_DUE_WEEKS = {"high": 1, "default": 2}
    assert make_item(review, by=responder, owner=responder, priority="high").due_date == localdate() + timedelta(
        weeks=1
    )
    assert make_item(review, by=responder, owner=responder, priority="medium").due_date == localdate() + timedelta(
        weeks=2
    )


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"title": "   "}, "title", "This field is required."),
        ({"title": "x" * 201}, "title", "at most 200 characters"),
        ({"owner": ""}, "owner", "This field is required."),
        ({"owner": "999999"}, "owner", "Choose one of the listed people."),
        ({"type": "magic"}, "type", "Select a valid choice."),
        ({"priority": "urgent"}, "priority", "Select a valid choice."),
        ({"due_date": "yesterday"}, "due_date", "Enter a date like 2026-12-31."),
        ({"due_date": "2001-01-01"}, "due_date", "cannot lie in the past"),
        ({"tracker_url": "javascript:alert(1)"}, "tracker_url", "Enter a valid URL."),
        ({"tracker_url": "ftp://example.com/x"}, "tracker_url", "Enter a valid URL."),
        ({"tracker_url": "https://" + "a" * 500 + ".com"}, "tracker_url", "at most 500 characters"),
        ({"title": "nul\x00byte"}, "title", "Null characters are not allowed."),
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(data, field, message, clients, review, responder):
    data.setdefault("owner", responder.pk)
    response = _add(clients["responder"], review, **data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ActionItem.objects.exists()


def test_an_owner_must_hold_a_role(clients, review, nobody):
    response = _add(clients["responder"], review, owner=nobody.pk)
    assert response.status_code == 422


def test_the_tracker_link_is_stored(clients, review, responder):
    _add(clients["responder"], review, owner=responder.pk, tracker_url="https://tracker.example.com/OPS-7")
    assert ActionItem.objects.get().tracker_url == "https://tracker.example.com/OPS-7"


def test_a_published_review_takes_no_new_items(responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    with pytest.raises(InvalidTransition, match="published"):
        make_item(review, by=responder, owner=responder)


def test_the_owner_marks_an_item_done_and_reopens_it(clients, review, responder, reporter):
    item = make_item(review, by=responder, owner=reporter)
    response = clients["reporter"].post(f"/reviews/actions/{item.pk}/state/", {"state": "done"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.state == "done" and item.closed_at is not None

    clients["reporter"].post(f"/reviews/actions/{item.pk}/state/", {"state": "open"})
    item.refresh_from_db()
    assert item.state == "open" and item.closed_at is None


def test_someone_else_without_write_permission_may_not(clients, review, responder, reporter):
    item = make_item(review, by=responder, owner=responder)
    assert clients["reporter"].post(f"/reviews/actions/{item.pk}/state/", {"state": "done"}).status_code == 403
    assert clients["viewer"].post(f"/reviews/actions/{item.pk}/state/", {"state": "done"}).status_code == 403
    with pytest.raises(PermissionDenied):
        lifecycle.set_action_item_state(item, by=reporter, state="done")


def test_wont_do_needs_a_reason(clients, review, responder):
    item = make_item(review, by=responder, owner=responder)
    response = clients["responder"].post(f"/reviews/actions/{item.pk}/state/", {"state": "wont_do"}, follow=True)
    assert "Say why this action item will not be done." in response.content.decode()
    item.refresh_from_db()
    assert item.state == "open"

    clients["responder"].post(f"/reviews/actions/{item.pk}/state/", {"state": "wont_do", "reason": "Service retired."})
    item.refresh_from_db()
    assert (item.state, item.wont_do_reason) == ("wont_do", "Service retired.")


@pytest.mark.parametrize("data", [{"state": "finished"}, {}, {"state": "wont_do", "reason": "x" * 1001}])
def test_a_bad_state_change_changes_nothing(data, clients, review, responder):
    item = make_item(review, by=responder, owner=responder)
    response = clients["responder"].post(f"/reviews/actions/{item.pk}/state/", data, follow=True)
    assert "was not changed" in response.content.decode()
    item.refresh_from_db()
    assert item.state == "open"


def test_items_still_change_state_after_the_review_is_published(responder, manager):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=responder)
    lifecycle.submit(review, by=responder)
    lifecycle.publish(review, by=manager)
    assert lifecycle.set_action_item_state(item, by=responder, state="done").state == "done"


def test_editing_an_item(clients, review, responder, manager):
    item = make_item(review, by=responder, owner=responder)
    backdate_due(item, 3)
    url = f"/reviews/actions/{item.pk}/edit/"
    assert clients["responder"].get(url).status_code == 200
    # An overdue item keeps its (past) date when other fields change.
    response = clients["responder"].post(
        url,
        {
            "title": "Renamed",
            "owner": manager.pk,
            "type": "corrective",
            "priority": "low",
            "due_date": item.due_date.isoformat(),
            "tracker_url": "",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.owner, item.type) == ("Renamed", manager, "corrective")

    bad = clients["responder"].post(url, {"title": "", "owner": manager.pk, "type": "corrective", "priority": "low"})
    assert bad.status_code == 422
    item.refresh_from_db()
    assert item.title == "Renamed"


def test_emptying_the_due_date_takes_the_default_from_the_priority(clients, review, responder):
    item = backdate_due(make_item(review, by=responder, owner=responder, priority="high"), 3)
    data = {"title": item.title, "owner": responder.pk, "type": item.type, "priority": "low", "due_date": ""}
    assert clients["responder"].post(f"/reviews/actions/{item.pk}/edit/", data).status_code == 302
    item.refresh_from_db()
    assert item.due_date == localdate() + timedelta(weeks=8)


def test_the_page_offers_state_buttons_to_the_owner_and_to_authors(clients, review, responder, reporter):
    mine = make_item(review, by=responder, owner=reporter, title="Mine")
    theirs = make_item(review, by=responder, owner=responder, title="Theirs")
    as_owner = clients["reporter"].get(review.get_absolute_url()).content.decode()
    assert f'action="/reviews/actions/{mine.pk}/state/"' in as_owner
    assert f'action="/reviews/actions/{theirs.pk}/state/"' not in as_owner
    as_author = clients["responder"].get(review.get_absolute_url()).content.decode()
    assert f'action="/reviews/actions/{mine.pk}/state/"' in as_author
    assert f'action="/reviews/actions/{theirs.pk}/state/"' in as_author


@pytest.mark.parametrize("url", ["/reviews/actions/999999/edit/", "/reviews/actions/999999/state/"])
def test_an_unknown_item_is_404(url, clients):
    assert clients["responder"].post(url, {"state": "done"}).status_code == 404


# --- the list across reviews -----------------------------------------------------------


@pytest.fixture
def items(reporter, responder, manager):
    checkout = make_review(responder=responder)
    search_review = make_review(
        responder=responder,
        incident=resolved_incident(by=reporter, responder=responder, service=ServiceFactory(name="Search")),
    )
    return {
        "overdue": backdate_due(make_item(checkout, by=responder, owner=responder, title="Overdue thing"), 1),
        "soon": make_item(checkout, by=responder, owner=manager, title="Soon thing", type="detective"),
        "done": lifecycle.set_action_item_state(
            backdate_due(make_item(search_review, by=responder, owner=responder, title="Done thing"), 5),
            by=responder,
            state="done",
        ),
    }


def _titles(client, **params):
    response = client.get("/reviews/actions/", params)
    assert response.status_code == 200
    page = response.content.decode()
    return {t for t in ["Overdue thing", "Soon thing", "Done thing"] if t in page}


def test_the_list_filters_by_owner_state_overdue_service_and_type(clients, items, responder):
    client = clients["viewer"]
    assert _titles(client) == {"Overdue thing", "Soon thing", "Done thing"}
    assert _titles(client, owner="rob") == {"Overdue thing", "Done thing"}
    assert _titles(client, state="open") == {"Overdue thing", "Soon thing"}
    assert _titles(client, overdue="on") == {"Overdue thing"}  # a done item past its date is not overdue
    assert _titles(client, service="search") == {"Done thing"}
    assert _titles(client, type="detective") == {"Soon thing"}
    assert _titles(client, owner="rob", state="open", service="checkout") == {"Overdue thing"}


@pytest.mark.parametrize("params", [{"owner": "ghost"}, {"state": "maybe"}, {"service": "nope"}, {"type": "x"}])
def test_a_filter_value_that_does_not_parse_is_shown_not_a_500(params, clients, items):
    response = clients["viewer"].get("/reviews/actions/", params)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_overdue_items_stand_out(clients, items):
    page = clients["viewer"].get("/reviews/actions/").content.decode()
    assert page.count("table-danger overdue") == 1
    assert page.count("overdue-badge") == 1
    review_page = clients["viewer"].get(items["overdue"].review.get_absolute_url()).content.decode()
    assert "table-danger overdue" in review_page


def test_the_list_stays_within_a_fixed_query_budget(clients, items, responder, django_assert_max_num_queries):
    review = items["soon"].review
    for n in range(40):
        make_item(review, by=responder, owner=responder, title=f"Bulk {n}")
    with django_assert_max_num_queries(12):
        assert clients["viewer"].get("/reviews/actions/", {"owner": "rob"}).status_code == 200


def test_my_action_items_are_mine_open_and_overdue_first(items, responder, manager, viewer):
    assert [i.title for i in my_action_items(responder)] == ["Overdue thing"]
    assert [i.title for i in my_action_items(manager)] == ["Soon thing"]
    assert my_action_items(viewer) == []


def test_the_dashboard_shows_my_action_items(clients, items):
    page = clients["responder"].get("/").content.decode()
    assert "My action items" in page
    assert "Overdue thing" in page and "Soon thing" not in page
    assert "list-group-item-danger" in page
    assert "My action items" not in clients["nobody"].get("/").content.decode()
