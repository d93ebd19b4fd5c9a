import pytest
from django.core.exceptions import PermissionDenied

from incidents.models import Service
from incidents.tests.factories import ServiceFactory
from incidents.workflow import Conflict
from reviews import lifecycle
from reviews.models import RunbookRevision
from reviews.tests.factories import make_review


@pytest.fixture
def service(db):
    return ServiceFactory(name="Checkout")


def _save(client, service, **data):
    values = {"text": "1. Check the pool.", "comment": "", "review": "", "base_revision": 0}
    values.update(data)
    return client.post(f"/reviews/runbooks/{service.slug}/edit/", values)


def test_each_save_is_a_new_revision(clients, service, responder, other_responder):
    assert _save(clients["responder"], service, comment="First steps").status_code == 302
    first = RunbookRevision.objects.get()
    response = _save(clients["responder"], service, text="1. Check the pool.\n2. Restart.", base_revision=first.pk)
    assert response.status_code == 302

    service.refresh_from_db()
    assert service.runbook == "1. Check the pool.\n2. Restart."
    assert RunbookRevision.objects.count() == 2
    page = clients["viewer"].get(f"/reviews/runbooks/{service.slug}/").content.decode()
    assert "<li>Restart.</li>" in page  # rendered markdown
    assert "First steps" in page and "Rob Responder" in page


def test_a_stale_save_is_refused_and_keeps_the_text(clients, service, responder, other_responder):
    _save(clients["responder"], service)
    response = _save(clients["responder"], service, text="My other text", base_revision=0)

    assert response.status_code == 409
    page = response.content.decode()
    assert "changed since you opened it" in page
    assert "My other text" in page
    assert RunbookRevision.objects.count() == 1
    with pytest.raises(Conflict):
        lifecycle.save_runbook(service, by=other_responder, text="x", base_revision=0)


def test_a_revision_names_the_review_it_came_from(clients, service, responder):
    review = make_review(responder=responder)
    response = _save(clients["responder"], service, review=review.incident.ref.lower(), comment="Pool check")
    assert response.status_code == 302
    revision = RunbookRevision.objects.get()
    assert revision.review == review

    page = clients["viewer"].get(review.get_absolute_url()).content.decode()
    assert "Runbook of Checkout" in page and "Pool check" in page
    assert review.incident.timeline.filter(kind="review", data__event="runbook").count() == 1
    history = clients["viewer"].get(f"/reviews/runbooks/{service.slug}/").content.decode()
    assert f"the review of {review.incident.ref}" in history


@pytest.mark.parametrize(
    "data, status, message",
    [
        ({"review": "INC-999999"}, 422, "There is no review of INC-999999."),
        ({"review": "not a ref"}, 422, "There is no review of not a ref."),
        ({"base_revision": "abc"}, 422, "hidden field is wrong"),
        ({"base_revision": "-1"}, 422, "hidden field is wrong"),
        ({"text": "x" * 100_001}, 422, "at most 100000 characters"),
        ({"comment": "x" * 201}, 422, "at most 200 characters"),
        ({"text": "nul\x00"}, 422, "Null characters are not allowed."),
        ({"text": ""}, 422, "The runbook is unchanged."),
    ],
)
def test_bad_input_writes_nothing(data, status, message, clients, service):
    response = _save(clients["responder"], service, **data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert not RunbookRevision.objects.exists()


def test_the_edit_form_carries_the_review_from_the_link(clients, service, responder):
    review = make_review(responder=responder)
    page = clients["responder"].get(f"/reviews/runbooks/{service.slug}/edit/?review={review.incident.ref}")
    assert f'value="{review.incident.ref}"' in page.content.decode()


def test_reporters_and_viewers_read_but_do_not_edit(clients, service, reporter):
    assert clients["reporter"].get(f"/reviews/runbooks/{service.slug}/").status_code == 200
    assert _save(clients["reporter"], service).status_code == 403
    with pytest.raises(PermissionDenied):
        lifecycle.save_runbook(service, by=reporter, text="x", base_revision=0)
    assert Service.objects.get(pk=service.pk).runbook == ""


def test_runbook_markdown_is_sanitised(clients, service, responder):
    lifecycle.save_runbook(
        service, by=responder, text="<script>alert(1)</script> [x](javascript:alert(1))", base_revision=0
    )
    page = clients["viewer"].get(f"/reviews/runbooks/{service.slug}/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert 'href="javascript:' not in page
