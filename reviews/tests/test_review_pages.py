"""The review pages through the client: edit (with bad input and conflicts), submit, publish, return, public summary."""

import pytest

from reviews import lifecycle
from reviews.models import SECTION_FIELDS, Review
from reviews.tests.factories import make_review, resolved_incident


def _form(review, **changes):
    data = {name: getattr(review, name) for name in SECTION_FIELDS}
    data["version"] = review.version
    data.update(changes)
    return data


def test_start_opens_the_prefilled_edit_form(clients, reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder)
    response = clients["responder"].post(f"/reviews/{incident.ref}/start/")
    assert response["Location"] == f"/reviews/{incident.ref}/edit/"
    page = clients["responder"].get(response["Location"]).content.decode()
    assert "Reported as High (Rita Reporter)" in page


def test_start_on_an_open_incident_is_refused_with_a_message(clients, reporter):
    from incidents.tests.factories import make_incident

    incident = make_incident(by=reporter)
    response = clients["responder"].post(f"/reviews/{incident.ref}/start/", follow=True)
    assert "a review starts once it is resolved" in response.content.decode()
    assert not Review.objects.exists()


def test_it_saves_sections_and_renders_them_sanitised(clients, responder):
    review = make_review(responder=responder)
    response = clients["responder"].post(
        f"/reviews/{review.incident.ref}/edit/",
        _form(review, root_cause="The **pool** was <script>alert(1)</script> too small."),
    )
    assert response.status_code == 302
    page = clients["viewer"].get(f"/reviews/{review.incident.ref}/").content.decode()
    assert "<strong>pool</strong>" in page
    assert "<script>alert(1)</script>" not in page


def test_a_stale_edit_shows_the_current_text_and_keeps_mine(clients, responder, other_responder):
    review = make_review(responder=responder)
    stale = _form(review, lessons_learned="Rob's lesson")
    lifecycle.edit(review, by=other_responder, version=review.version, changes={"lessons_learned": "Ola's lesson"})

    response = clients["responder"].post(f"/reviews/{review.incident.ref}/edit/", stale)
    assert response.status_code == 409
    page = response.content.decode()
    assert "changed since you opened it" in page
    assert "Rob&#x27;s lesson" in page and "Ola&#x27;s lesson" in page
    review.refresh_from_db()
    assert review.lessons_learned == "Ola's lesson"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"version": ""}, "hidden field is wrong"),
        ({"version": "x"}, "hidden field is wrong"),
        ({"version": "0"}, "hidden field is wrong"),
        ({"summary": "x" * 50_001}, "at most 50000 characters"),
        ({"root_cause": "a\x00b"}, "Null characters are not allowed."),
    ],
)
def test_bad_review_input_writes_nothing(changes, message, clients, responder):
    review = make_review(responder=responder)
    response = clients["responder"].post(f"/reviews/{review.incident.ref}/edit/", _form(review, **changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert Review.objects.get(pk=review.pk).version == review.version


def test_a_published_review_cannot_be_edited_through_the_page(clients, responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    response = clients["manager"].post(f"/reviews/{review.incident.ref}/edit/", _form(review, summary="New"))
    assert response.status_code == 302
    assert Review.objects.get(pk=review.pk).summary != "New"
    page = clients["manager"].get(review.get_absolute_url()).content.decode()
    assert "Published and read-only" in page
    assert f'href="/reviews/{review.incident.ref}/edit/"' not in page


def test_submit_publish_and_return_through_the_pages(clients, responder, manager):
    review = make_review(responder=responder)
    ref = review.incident.ref
    clients["responder"].post(f"/reviews/{ref}/submit/")
    assert Review.objects.get(pk=review.pk).state == "in_review"
    assert "Approve and publish" in clients["manager"].get(f"/reviews/{ref}/").content.decode()
    assert "Approve and publish" not in clients["responder"].get(f"/reviews/{ref}/").content.decode()

    clients["manager"].post(f"/reviews/{ref}/publish/")
    assert Review.objects.get(pk=review.pk).state == "published"
    page = clients["viewer"].get(f"/reviews/{ref}/").content.decode()
    assert "Approver: Maya Manager" in page and "Authors: Rob Responder" in page

    clients["manager"].post(f"/reviews/{ref}/return/", {"reason": "More detail please."})
    assert Review.objects.get(pk=review.pk).state == "draft"


def test_submitting_without_root_cause_shows_why(clients, responder):
    review = make_review(responder=responder, root_cause="")
    response = clients["responder"].post(f"/reviews/{review.incident.ref}/submit/", follow=True)
    assert "Write the root cause before submitting the review." in response.content.decode()


@pytest.mark.parametrize(
    "data, message", [({"reason": ""}, "This field is required."), ({"reason": "x" * 1001}, "at most 1000")]
)
def test_return_to_draft_with_bad_input(data, message, clients, responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    response = clients["manager"].post(f"/reviews/{review.incident.ref}/return/", data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert Review.objects.get(pk=review.pk).state == "published"


def test_public_summary_through_the_page(clients, responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    url = f"/reviews/{review.incident.ref}/public-summary/"
    too_long = clients["manager"].post(url, {"text": "x" * 3001})
    assert too_long.status_code == 422 and "at most 3000" in too_long.content.decode()

    clients["manager"].post(url, {"text": "Checkout failed for 40 minutes after a release."})
    review.refresh_from_db()
    assert review.public_summary == "Checkout failed for 40 minutes after a release."
    assert review.public_summary_published_at is not None


def test_the_reviews_list_shows_state_and_open_items(clients, responder, django_assert_max_num_queries):
    from reviews.tests.factories import make_item

    for _ in range(30):
        review = make_review(responder=responder)
        make_item(review, by=responder, owner=responder)
    with django_assert_max_num_queries(10):
        response = clients["viewer"].get("/reviews/", {"state": "draft"})
    assert response.status_code == 200
    assert response.content.decode().count('class="badge text-bg-secondary">Draft') == 25
    bad = clients["viewer"].get("/reviews/", {"state": "nope", "q": "x" * 500})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()


@pytest.mark.parametrize(
    "url", ["/reviews/not-a-ref/", "/reviews/INC-999999/", "/reviews/INC-99999999999999999999/markdown/"]
)
def test_an_unknown_or_malformed_reference_is_404(url, clients):
    assert clients["viewer"].get(url).status_code == 404
    assert clients["responder"].post("/reviews/INC-999999/start/").status_code == 404


def test_a_bad_page_number_shows_a_page(clients, responder):
    make_review(responder=responder)
    for page in ["abc", "-1", "99999"]:
        response = clients["viewer"].get("/reviews/", {"page": page})
        assert response.status_code == 200 and "Checkout is down" in response.content.decode()
