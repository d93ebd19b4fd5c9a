"""Two people saving one review at the same moment, on two PostgreSQL connections: one wins,
the other is refused clearly; nothing is overwritten silently."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from incidents.workflow import Conflict, InvalidTransition
from reviews import lifecycle
from reviews.models import Review
from reviews.tests.factories import make_review

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")


def race(first, second) -> dict:
    """`first` runs and keeps its transaction (and row locks) open while `second` starts."""
    inside = threading.Event()
    outcomes = {}

    def run_first():
        try:
            with transaction.atomic():
                outcomes["first"] = ("ok", first())
                inside.set()
                time.sleep(0.5)  # hold the locks while the other connection arrives
        except Exception as error:  # noqa: BLE001 - the outcome is what we assert
            inside.set()
            outcomes["first"] = ("refused", error)
        finally:
            connections.close_all()

    def run_second():
        try:
            outcomes["second"] = ("ok", second())
        except Exception as error:  # noqa: BLE001
            outcomes["second"] = ("refused", error)
        finally:
            connections.close_all()

    a = threading.Thread(target=run_first)
    a.start()
    assert inside.wait(5)
    b = threading.Thread(target=run_second)
    b.start()
    a.join(10)
    b.join(10)
    return outcomes


def test_two_saves_from_the_same_version(responder, other_responder):
    review = make_review(responder=responder)
    version = review.version
    outcomes = race(
        lambda: lifecycle.edit(review, by=responder, version=version, changes={"root_cause": "From Rob"}),
        lambda: lifecycle.edit(review, by=other_responder, version=version, changes={"root_cause": "From Ola"}),
    )
    assert outcomes["first"][0] == "ok"
    assert isinstance(outcomes["second"][1], Conflict)
    assert Review.objects.get(pk=review.pk).root_cause == "From Rob"


def test_an_edit_racing_the_publication_is_refused(responder, manager):
    review = make_review(responder=responder, state=Review.State.IN_REVIEW)
    version = review.version
    outcomes = race(
        lambda: lifecycle.publish(review, by=manager),
        lambda: lifecycle.edit(review, by=responder, version=version, changes={"root_cause": "Late change"}),
    )
    assert outcomes["first"][0] == "ok"
    refusal = outcomes["second"][1]
    assert isinstance(refusal, InvalidTransition) and "published" in str(refusal)
    review = Review.objects.get(pk=review.pk)
    assert (review.state, review.root_cause) == (Review.State.PUBLISHED, "A bad deploy.")
