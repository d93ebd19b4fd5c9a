"""Each state change of a review, and who may make it."""

import pytest
from django.core.exceptions import PermissionDenied

from incidents.workflow import Conflict, InvalidTransition
from reviews import lifecycle
from reviews.models import Review
from reviews.tests.factories import make_review


def _review_events(review):
    return list(review.incident.timeline.filter(kind="review").values_list("data__event", flat=True))


def test_draft_to_in_review_to_published(responder, manager):
    review = make_review(responder=responder)
    review = lifecycle.submit(review, by=responder)
    assert review.state == Review.State.IN_REVIEW
    assert review.submitted_at is not None

    review = lifecycle.publish(review, by=manager)
    assert review.state == Review.State.PUBLISHED
    assert review.approver == manager
    assert review.published_at is not None
    assert _review_events(review) == ["started", "submitted", "published"]


def test_submit_needs_a_root_cause(responder):
    review = make_review(responder=responder, root_cause="  ")
    with pytest.raises(InvalidTransition, match="root cause"):
        lifecycle.submit(review, by=responder)
    assert Review.objects.get(pk=review.pk).state == Review.State.DRAFT


def test_a_responder_cannot_publish(responder):
    review = make_review(responder=responder, state=Review.State.IN_REVIEW)
    with pytest.raises(PermissionDenied):
        lifecycle.publish(review, by=responder)
    assert Review.objects.get(pk=review.pk).state == Review.State.IN_REVIEW


@pytest.mark.parametrize("role", ["reporter", "viewer", "nobody"])
def test_only_writers_start_edit_and_submit(role, users, responder):
    review = make_review(responder=responder)
    user = users[role]
    with pytest.raises(PermissionDenied):
        lifecycle.start(review.incident, by=user)
    with pytest.raises(PermissionDenied):
        lifecycle.edit(review, by=user, version=review.version, changes={"summary": "x"})
    with pytest.raises(PermissionDenied):
        lifecycle.submit(review, by=user)


def test_a_draft_cannot_be_published_directly(responder, manager):
    review = make_review(responder=responder)
    with pytest.raises(InvalidTransition, match="only a submitted review"):
        lifecycle.publish(review, by=manager)


def test_a_published_review_is_read_only(responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    with pytest.raises(InvalidTransition, match="read-only"):
        lifecycle.edit(review, by=manager, version=review.version, changes={"summary": "changed"})
    with pytest.raises(InvalidTransition):
        lifecycle.submit(review, by=responder)
    assert Review.objects.get(pk=review.pk).summary == review.summary


def test_a_manager_returns_a_published_review_to_draft_with_a_reason(responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    review = lifecycle.return_to_draft(review, by=manager, reason="Root cause is wrong.")

    assert review.state == Review.State.DRAFT
    assert review.approver is None and review.published_at is None
    entry = review.incident.timeline.filter(kind="review", data__event="returned").get()
    assert entry.author == manager
    assert "Root cause is wrong." in entry.text
    assert entry.data["old"] == "published"


def test_return_to_draft_needs_a_reason_and_a_manager(responder, manager):
    review = make_review(responder=responder, state=Review.State.IN_REVIEW)
    with pytest.raises(InvalidTransition, match="Say why"):
        lifecycle.return_to_draft(review, by=manager, reason="   ")
    with pytest.raises(PermissionDenied):
        lifecycle.return_to_draft(review, by=responder, reason="No.")
    lifecycle.return_to_draft(review, by=manager, reason="Needs more on detection.")
    with pytest.raises(InvalidTransition, match="already a draft"):
        lifecycle.return_to_draft(review, by=manager, reason="Again.")


def test_a_stale_edit_is_refused(responder, other_responder):
    review = make_review(responder=responder)
    opened_at = review.version
    lifecycle.edit(review, by=other_responder, version=opened_at, changes={"lessons_learned": "Ola's lesson"})
    with pytest.raises(Conflict, match="changed since you opened it"):
        lifecycle.edit(review, by=responder, version=opened_at, changes={"lessons_learned": "Rob's lesson"})

    review.refresh_from_db()
    assert review.lessons_learned == "Ola's lesson"
    assert set(review.authors.all()) == {responder, other_responder}


def test_edit_refuses_fields_that_are_not_sections(responder):
    review = make_review(responder=responder)
    with pytest.raises(ValueError):
        lifecycle.edit(review, by=responder, version=review.version, changes={"state": "published"})


def test_a_manager_publishes_and_withdraws_the_public_summary(responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    review = lifecycle.set_public_summary(review, by=manager, text="  A bad deploy broke checkout for 40 minutes. ")
    assert review.public_summary == "A bad deploy broke checkout for 40 minutes."
    assert review.public_summary_published_at is not None

    review = lifecycle.set_public_summary(review, by=manager, text="")
    assert review.public_summary == "" and review.public_summary_published_at is None
    assert _review_events(review)[-2:] == ["public_summary", "public_summary_withdrawn"]
    with pytest.raises(InvalidTransition):
        lifecycle.set_public_summary(review, by=manager, text="")
    with pytest.raises(PermissionDenied):
        lifecycle.set_public_summary(review, by=responder, text="Mine.")


def test_an_author_cannot_publish_their_own_review(manager, responder):
    """A second pair of eyes: the manager who wrote (part of) the review may not approve it."""
    review = make_review(responder=manager)
    review = lifecycle.submit(review, by=manager)
    with pytest.raises(InvalidTransition, match="another manager must approve"):
        lifecycle.publish(review, by=manager)
    assert Review.objects.get(pk=review.pk).state == Review.State.IN_REVIEW
    assert _review_events(review) == ["started", "submitted"]


def test_one_person_teams_may_self_publish_and_the_timeline_says_so(settings, manager):
    settings.REVIEW_SELF_PUBLISH = True
    review = lifecycle.submit(make_review(responder=manager), by=manager)
    review = lifecycle.publish(review, by=manager)
    assert review.state == Review.State.PUBLISHED
    entry = review.incident.timeline.filter(kind="review", data__event="published").get()
    assert entry.data["self_published"] is True
    assert entry.text == "Review published by one of its own authors."
