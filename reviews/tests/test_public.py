from reviews import lifecycle
from reviews.models import Review
from reviews.public import PublicSummary, public_summaries
from reviews.tests.factories import make_review


def test_only_published_public_summaries_and_only_their_text(responder, manager, django_assert_num_queries):
    secret = "SECRET-ROOT-CAUSE db-password-in-log"
    with_summary = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED, root_cause=secret)
    lifecycle.set_public_summary(with_summary, by=manager, text="Payments failed for 40 minutes.")
    without = make_review(responder=responder)
    withdrawn = make_review(responder=responder, manager=manager, state=Review.State.PUBLISHED)
    lifecycle.set_public_summary(withdrawn, by=manager, text="Oops.")
    lifecycle.set_public_summary(withdrawn, by=manager, text="")

    with django_assert_num_queries(1):
        found = public_summaries([with_summary.incident_id, without.incident_id, withdrawn.incident_id])

    assert list(found) == [with_summary.incident_id]
    summary = found[with_summary.incident_id]
    assert isinstance(summary, PublicSummary)
    assert summary.text == "Payments failed for 40 minutes."
    assert secret not in repr(found)
