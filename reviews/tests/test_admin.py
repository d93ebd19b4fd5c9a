from reviews.models import SECTION_FIELDS, ActionItem, Review
from reviews.tests.factories import backdate_due, make_item, make_review


def test_the_overdue_and_owner_filters(clients, responder, manager):
    review = make_review(responder=responder)
    backdate_due(make_item(review, by=responder, owner=responder, title="Late one"), 2)
    make_item(review, by=responder, owner=manager, title="On time one")

    overdue = clients["manager"].get("/admin/reviews/actionitem/", {"overdue": "yes"}).content.decode()
    assert "Late one" in overdue and "On time one" not in overdue
    not_overdue = clients["manager"].get("/admin/reviews/actionitem/", {"overdue": "no"}).content.decode()
    assert "On time one" in not_overdue and "Late one" not in not_overdue
    mine = clients["manager"].get("/admin/reviews/actionitem/", {"owner__id__exact": manager.pk}).content.decode()
    assert "On time one" in mine and "Late one" not in mine
    reviews = clients["manager"].get("/admin/reviews/review/", {"overdue": "yes"}).content.decode()
    assert review.incident.ref in reviews


def test_mark_done_goes_through_the_lifecycle(clients, responder):
    review = make_review(responder=responder)
    item = make_item(review, by=responder, owner=responder)
    clients["manager"].post("/admin/reviews/actionitem/", {"action": "mark_done", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert item.state == ActionItem.State.DONE and item.closed_at is not None


def test_a_published_review_is_read_only_in_the_admin(clients, responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    page = clients["manager"].get(f"/admin/reviews/review/{review.pk}/change/").content.decode()
    assert 'name="root_cause"' not in page


def test_editing_a_draft_in_the_admin_bumps_its_version(clients, responder, manager):
    review = make_review(responder=responder)
    data = {name: getattr(review, name) for name in SECTION_FIELDS}
    data |= {
        "root_cause": "Corrected in the admin.",
        "action_items-TOTAL_FORMS": 0,
        "action_items-INITIAL_FORMS": 0,
        "action_items-MIN_NUM_FORMS": 0,
        "action_items-MAX_NUM_FORMS": 1000,
    }
    response = clients["manager"].post(f"/admin/reviews/review/{review.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = Review.objects.get(pk=review.pk)
    assert fresh.root_cause == "Corrected in the admin."
    assert fresh.version == review.version + 1
    assert manager in fresh.authors.all()
