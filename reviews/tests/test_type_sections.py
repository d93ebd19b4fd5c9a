"""The review sections an incident type requires (e.g. Security: "Data exposure", "Disclosure
obligations"): shown on the review, written on its edit page, and publishing waits for them."""

import pytest

from incidents.models import IncidentType, ReviewSection
from incidents.workflow import InvalidTransition
from reviews import export, lifecycle
from reviews.models import Review
from reviews.tests.factories import make_review, resolved_incident


@pytest.fixture
def sections(db):
    downtime = IncidentType.objects.get(slug="downtime")
    ReviewSection.objects.create(type=downtime, title="Data exposure", guidance="What data, to whom.", position=1)
    ReviewSection.objects.create(type=downtime, title="Disclosure obligations", position=2)


def in_review(responder):
    incident = resolved_incident(by=responder, responder=responder)
    return make_review(responder=responder, incident=incident, state=Review.State.IN_REVIEW)


def test_publishing_waits_for_every_required_section(sections, responder, manager, clients):
    review = in_review(responder)
    with pytest.raises(InvalidTransition) as refused:
        lifecycle.publish(review, by=manager)
    assert str(refused.value) == (
        f"The review of {review.incident.ref} cannot be published yet: a Downtime review needs “Data exposure” "
        "and “Disclosure obligations” written. Edit the review to write them."
    )
    # From the page: the message, and the review unchanged.
    response = clients["manager"].post(f"/reviews/{review.incident.ref}/publish/", follow=True)
    assert "cannot be published yet" in response.content.decode()
    review.refresh_from_db()
    assert review.state == Review.State.IN_REVIEW
    lifecycle.edit(review, by=responder, version=review.version, changes={"type_sections": {"data_exposure": "None."}})
    with pytest.raises(InvalidTransition, match="needs “Disclosure obligations” written. Edit the review to write it."):
        lifecycle.publish(review, by=manager)
    review.refresh_from_db()
    lifecycle.edit(
        review, by=responder, version=review.version, changes={"type_sections": {"disclosure_obligations": "  "}}
    )
    with pytest.raises(InvalidTransition):  # blank is empty
        lifecycle.publish(review, by=manager)
    review.refresh_from_db()
    lifecycle.edit(
        review, by=responder, version=review.version, changes={"type_sections": {"disclosure_obligations": "None due."}}
    )
    assert lifecycle.publish(review, by=manager).state == Review.State.PUBLISHED


def test_a_type_without_sections_publishes_as_before(responder, manager):
    review = in_review(responder)
    assert lifecycle.publish(review, by=manager).state == Review.State.PUBLISHED


def test_the_review_page_shows_the_sections_and_what_is_missing(sections, responder, clients):
    review = in_review(responder)
    lifecycle.edit(
        review, by=responder, version=review.version, changes={"type_sections": {"data_exposure": "**No** data."}}
    )
    html = clients["viewer"].get(f"/reviews/{review.incident.ref}/").content.decode()
    assert 'id="section-type-data_exposure"' in html and "<strong>No</strong> data." in html
    assert "What data, to whom." in html
    assert "published only once these sections are written: Disclosure obligations" in html


def test_the_edit_page_writes_the_sections_with_the_version_check(sections, responder, clients):
    review = in_review(responder)
    form = clients["responder"].get(f"/reviews/{review.incident.ref}/edit/")
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="type_data_exposure"' in html and "Required before the review is published." in html
    data = {name: text for name, _, text in review.sections()}
    data.update({"version": review.version, "type_data_exposure": "Logs only.", "type_disclosure_obligations": ""})
    assert clients["responder"].post(f"/reviews/{review.incident.ref}/edit/", data).status_code == 302
    review.refresh_from_db()
    assert review.type_sections == {"data_exposure": "Logs only.", "disclosure_obligations": ""}
    stale = clients["responder"].post(f"/reviews/{review.incident.ref}/edit/", {**data, "type_data_exposure": "X"})
    assert stale.status_code == 409
    review.refresh_from_db()
    assert review.type_sections["data_exposure"] == "Logs only."
    too_long = clients["responder"].post(
        f"/reviews/{review.incident.ref}/edit/", {**data, "version": review.version, "type_data_exposure": "x" * 50_001}
    )
    assert too_long.status_code == 422


def test_the_markdown_export_includes_them(sections, responder):
    review = in_review(responder)
    lifecycle.edit(review, by=responder, version=review.version, changes={"type_sections": {"data_exposure": "Logs."}})
    text = export.as_markdown(Review.objects.select_related("incident").get(pk=review.pk))
    assert "Data exposure" in text and "Logs." in text and "Disclosure obligations" in text


def test_review_pages_stay_bounded(sections, responder, clients, django_assert_max_num_queries):
    review = in_review(responder)
    clients["manager"].get(f"/reviews/{review.incident.ref}/")
    for n in range(10):
        ReviewSection.objects.create(type=review.incident.type, title=f"Extra {n}", position=10 + n)
    with django_assert_max_num_queries(16):
        response = clients["manager"].get(f"/reviews/{review.incident.ref}/")
    assert response.content.decode().count("type-section") == 12
