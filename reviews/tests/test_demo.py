from django.core.management import call_command

from incidents.models import Incident
from reviews.models import ActionItem, Review


def test_seed_demo_publishes_two_reviews_and_closes_their_incidents(db, settings):
    settings.DEBUG = True
    settings.REVIEW_REQUIRED_SEVERITIES = ["critical", "high"]
    call_command("seed_demo", incidents=30, verbosity=0)
    reviews = list(Review.objects.select_related("incident"))
    assert len(reviews) == 2
    assert all(r.state == Review.State.PUBLISHED for r in reviews)
    assert all(r.incident.status == Incident.Status.CLOSED for r in reviews)
    assert ActionItem.objects.count() == 4
    call_command("seed_demo", incidents=30, verbosity=0)
    assert Review.objects.count() == 2
