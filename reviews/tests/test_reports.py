"""The learning loop on /reports/ (reviews/reports.py): reviews due and published on time, action
items per priority against their due dates; only those of incidents the user may see."""

from datetime import timedelta

import pytest
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Incident
from reviews.models import ActionItem, Review
from reviews.tests.factories import backdate_due, make_item, make_review, resolved_incident

pytestmark = pytest.mark.django_db


def section(client) -> dict:
    response = client.get("/reports/")
    assert response.status_code == 200
    found = [context for template, context in response.context["sections"] if template.startswith("reviews/")]
    assert len(found) == 1
    return found[0]


def test_reviews_due_and_published_on_time(clients, responder, manager, settings):
    settings.REVIEW_DUE_DAYS = 7
    # Published at once: on time.
    make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    # Resolved 10 days ago, published today: late.
    late = resolved_incident(by=responder, responder=responder, title="Late one")
    Incident.objects.filter(pk=late.pk).update(
        resolved_at=now() - timedelta(days=10), reported_at=now() - timedelta(days=11)
    )
    make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED, incident=late)
    # Resolved 8 days ago, still a draft: overdue.
    overdue = resolved_incident(by=responder, responder=responder, title="Forgotten")
    Incident.objects.filter(pk=overdue.pk).update(
        resolved_at=now() - timedelta(days=8), reported_at=now() - timedelta(days=9)
    )
    make_review(responder=responder, incident=overdue)
    # Low severity: no review required, not counted.
    resolved_incident(by=responder, responder=responder, severity="low")
    reviews = section(clients["manager"])["reviews"]
    assert reviews == {"required": 3, "due": 2, "on_time": 1, "late": 1, "overdue": 1}


def test_action_items_per_priority(clients, responder, manager):
    review = make_review(responder=responder)
    make_item(review, by=responder, owner=responder, priority=ActionItem.Priority.HIGH)
    backdate_due(make_item(review, by=responder, owner=responder, priority=ActionItem.Priority.HIGH), 3)
    done = make_item(review, by=responder, owner=responder, priority=ActionItem.Priority.LOW)
    ActionItem.objects.filter(pk=done.pk).update(state=ActionItem.State.DONE, closed_at=now())
    rows = {row["label"]: row for row in section(clients["responder"])["items"]}
    assert (rows["High"]["open"], rows["High"]["overdue"], rows["High"]["done"]) == (1, 1, 0)
    assert (rows["Low"]["open"], rows["Low"]["done"], rows["Low"]["done_late"]) == (0, 1, 0)
    assert rows["High"]["overdue_href"] == "/reviews/actions/?priority=high&overdue=true"
    listed = clients["responder"].get(rows["High"]["overdue_href"])
    assert listed.status_code == 200 and len(listed.context["page"].object_list) == 1


def test_restricted_incidents_reviews_and_items_count_only_for_those_allowed(clients, responder, manager):
    review = make_review(responder=manager, manager=None)
    make_item(review, by=manager, owner=manager)
    workflow.restrict(review.incident, by=manager, reason="Customer data.")
    assert section(clients["manager"])["reviews"]["required"] == 1
    assert section(clients["responder"])["reviews"]["required"] == 0
    assert {row["label"]: row["open"] for row in section(clients["responder"])["items"]}["High"] == 0
