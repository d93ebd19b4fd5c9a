"""'Similar past incidents' on the incident page: what fixed it last time, in a fixed number of queries."""

from django.db.models import Q

from incidents import workflow
from incidents.tests.factories import ServiceFactory, make_incident
from reviews import similar
from reviews.models import Review
from reviews.tests.factories import make_item, make_review, resolved_incident


def test_it_lists_resolved_incidents_of_the_same_service_with_root_cause_and_items(
    clients, reporter, responder, manager
):
    past = make_review(responder=responder, root_cause="Connection pool exhausted.")
    make_item(past, by=responder, owner=responder, title="Raise the pool size alert")
    other_service = resolved_incident(
        by=reporter,
        responder=responder,
        title="Index rebuild stalled",
        description="The reindex job hung.",
        service=ServiceFactory(name="Search"),
    )
    still_open = make_incident(by=reporter, title="Checkout slow")
    current = make_incident(by=reporter, title="Checkout is down again")

    similar_ids = [i.pk for i in similar.similar_incidents(current, responder)]
    assert similar_ids == [past.incident_id]
    assert other_service.pk not in similar_ids and still_open.pk not in similar_ids

    page = clients["responder"].get(f"/incidents/{current.ref}/").content.decode()
    assert "Similar past incidents" in page
    assert f'hx-get="/reviews/{current.ref}/similar/" hx-trigger="revealed"' in page
    assert f'<a class="small" href="/reviews/{current.ref}/similar/">What fixed it last time?</a>' in page
    listed = clients["responder"].get(f"/reviews/{current.ref}/similar/").content.decode()
    assert "Connection pool exhausted." in listed
    assert "Raise the pool size alert" in listed


def test_it_shows_at_most_five_newest_first_and_never_the_incident_itself(reporter, responder):
    pasts = [resolved_incident(by=reporter, responder=responder, title=f"Past {n}") for n in range(7)]
    found = similar.similar_incidents(pasts[-1], responder)

    assert len(found) == 5
    assert pasts[-1] not in found
    assert [i.pk for i in found] == sorted((i.pk for i in pasts[:-1]), reverse=True)[:5]


def test_an_incident_without_a_review_shows_its_resolution(clients, reporter, responder):
    resolved_incident(by=reporter, responder=responder)
    current = make_incident(by=reporter)
    page = clients["viewer"].get(f"/reviews/{current.ref}/similar/").content.decode()
    assert "<strong>Resolution:</strong> Rolled back release 42." in page


def test_a_registered_matcher_widens_the_match(reporter, responder):
    # A matcher of some other part (the alert-name hook is one): here, the same impact text.
    other = resolved_incident(
        by=reporter,
        responder=responder,
        title="Index rebuild stalled",
        impact="Shoppers see stale prices.",
        service=ServiceFactory(name="Search"),
    )
    current = make_incident(by=reporter, title="Price feed late", description="x", impact="Shoppers see stale prices.")

    def same_impact(incident):
        return Q(impact=incident.impact)

    similar.register_matcher(same_impact)
    try:
        assert other in similar.similar_incidents(current, responder)
    finally:
        similar._matchers.remove(same_impact)
    assert other not in similar.similar_incidents(current, responder)


def CaptureIncidentPage(client, incident) -> list:
    """The queries of one incident page view."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/incidents/{incident.ref}/").status_code == 200
    return captured.captured_queries


def test_the_incident_page_stays_within_a_fixed_query_budget(
    clients, reporter, responder, manager, django_assert_max_num_queries
):
    service = ServiceFactory(name="Checkout")
    for n in range(12):
        review = make_review(
            responder=responder,
            incident=resolved_incident(by=reporter, responder=responder, title=f"Past {n}", service=service),
        )
        for k in range(3):
            make_item(review, by=responder, owner=[responder, manager][k % 2], title=f"Item {n}.{k}")
    current = make_incident(by=reporter, service=service)
    workflow.add_note(current, by=responder, text="Looking.")

    # The three panels: review (1), runbook (0), similar incidents (0: it loads on its own).
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = responder
    from reviews import panels

    with django_assert_max_num_queries(1):
        panels.review_panel(request, current)
        panels.runbook_panel(request, current)
        panels.similar_panel(request, current)
    # The ranked list: matchers, candidates, published reviews' texts, the five with their
    # reviews and action items (the session and user are the rest).
    with django_assert_max_num_queries(9):
        found = similar.similar_incidents(current, responder)
        shown = [
            (past.review.root_cause, [item.owner.username for item in past.review.action_items.all()]) for past in found
        ]
    assert len(shown) == 5 and all(len(owners) == 3 for _, owners in shown)

    with django_assert_max_num_queries(23) as captured:
        response = clients["responder"].get(f"/reviews/{current.ref}/similar/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().count('class="border rounded p-2 mb-2 similar-incident"') == 5
    baseline = len(captured.captured_queries)
    page = len(CaptureIncidentPage(clients["responder"], current))

    # Twice the data behind it: not one query more, on the list or on the incident page.
    for n in range(12, 24):
        review = make_review(
            responder=responder,
            incident=resolved_incident(by=reporter, responder=responder, title=f"Past {n}", service=service),
        )
        make_item(review, by=responder, owner=responder)
    with django_assert_max_num_queries(baseline):
        clients["responder"].get(f"/reviews/{current.ref}/similar/", headers={"HX-Request": "true"})
    assert len(CaptureIncidentPage(clients["responder"], current)) <= page


def test_the_review_panel_offers_to_start_a_review_once_resolved(clients, reporter, responder):
    incident = resolved_incident(by=reporter, responder=responder, severity="critical")
    page = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert f'action="/reviews/{incident.ref}/start/"' in page
    assert "can be closed once its review is published" in page
    assert (
        f'action="/reviews/{incident.ref}/start/"'
        not in clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    )

    clients["responder"].post(f"/reviews/{incident.ref}/start/")
    page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    assert f'href="/reviews/{incident.ref}/"' in page and "Draft" in page


def test_the_review_panel_is_hidden_on_open_incidents(clients, reporter):
    incident = make_incident(by=reporter)
    page = clients["responder"].get(f"/incidents/{incident.ref}/").content.decode()
    assert "review-panel" not in page
    assert f'href="/reviews/runbooks/{incident.service.slug}/"' in page


def test_the_runbook_panel_shows_outside_runbook_links_from_the_hook(clients, reporter):
    from reviews import panels

    incident = make_incident(by=reporter)

    def from_alert(i):
        return "https://wiki.example.com/runbooks/checkout"

    panels.register_runbook_url(from_alert)
    try:
        page = clients["viewer"].get(f"/incidents/{incident.ref}/").content.decode()
    finally:
        panels._runbook_url_sources.remove(from_alert)
    assert 'href="https://wiki.example.com/runbooks/checkout"' in page


def test_review_state_is_shown_for_published_reviews(clients, responder, manager):
    review = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    page = clients["viewer"].get(f"/incidents/{review.incident.ref}/").content.decode()
    assert "Published" in page and "approved by Maya Manager" in page
