"""The public post-mortem appears under its incident on the status page; the internal review never does."""

from incidents import workflow
from reviews import lifecycle
from reviews.tests.factories import make_review


def test_published_public_summary_shows_on_the_status_page_and_nothing_else(client, responder, manager):
    review = make_review(responder=responder, root_cause="SECRET-ROOT-CAUSE in the payment gateway")
    workflow.set_public(review.incident, by=responder, public=True)
    url = f"/status/incidents/{review.incident.ref}/"
    assert "Post-incident summary" not in client.get(url).content.decode()

    lifecycle.set_public_summary(review, by=manager, text="A configuration change broke card payments for 40 minutes.")
    html = client.get(url).content.decode()
    assert "Post-incident summary" in html
    assert "A configuration change broke card payments for 40 minutes." in html
    assert "SECRET-ROOT-CAUSE" not in html


def test_summary_of_an_internal_incident_stays_hidden(client, responder, manager):
    review = make_review(responder=responder)
    lifecycle.set_public_summary(review, by=manager, text="Public words")
    assert client.get(f"/status/incidents/{review.incident.ref}/").status_code == 404


def test_a_withdrawn_summary_leaves_the_cached_page_at_once(client, responder, manager):
    review = make_review(responder=responder)
    workflow.set_public(review.incident, by=responder, public=True)
    lifecycle.set_public_summary(review, by=manager, text="Payments failed for 40 minutes.")
    url = f"/status/incidents/{review.incident.ref}/"
    assert "Payments failed for 40 minutes." in client.get(url).content.decode()

    lifecycle.set_public_summary(review, by=manager, text="")

    assert "Payments failed for 40 minutes." not in client.get(url).content.decode()
