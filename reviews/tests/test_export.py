from reviews import lifecycle
from reviews.models import Review
from reviews.tests.factories import backdate_due, make_item, make_review


def test_it_downloads_a_complete_post_mortem(clients, responder, manager, reporter):
    review = make_review(
        responder=responder,
        manager=manager,
        state=Review.State.PUBLISHED,
        root_cause="Release 42 removed an index.",
        went_well="Alert fired within a minute.",
        lucky="It was a quiet Sunday.",
    )
    ref = review.incident.ref
    lifecycle.return_to_draft(review, by=manager, reason="Add items.")
    item = make_item(review, by=responder, owner=responder, title="Check indexes in CI")
    backdate_due(item, 2)
    lifecycle.submit(review, by=responder)
    lifecycle.publish(review, by=manager)

    response = clients["viewer"].get(f"/reviews/{ref}/markdown/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{ref}-post-incident-review.md"'
    text = response.content.decode()
    assert text.startswith(f"# Post-incident review: {ref} Checkout is down\n")
    for heading in [
        "## Key times",
        "## Summary",
        "## Impact",
        "## Timeline",
        "## Root cause",
        "## Contributing factors",
        "## What went well",
        "## What went badly",
        "## Where we got lucky",
        "## Lessons learned",
        "## Action items",
        "## Documentation updated",
    ]:
        assert f"\n{heading}\n" in text, heading
    assert "Release 42 removed an index." in text
    assert "It was a quiet Sunday." in text
    assert "| Time to resolve (reported → resolved) |" in text
    assert "- [ ] **Check indexes in CI** — Preventive (stop it happening), High priority, owner Rob Responder" in text
    assert "(OVERDUE)" in text
    assert "**Approved by:** Maya Manager" in text
    assert "**Authors:** Rob Responder" in text
    assert "_Not written._" in text  # the empty sections say so
    assert "\n\n\n" not in text
    # Markdown is not HTML: nothing is escaped into entities.
    assert "&amp;" not in text and "&#x27;" not in text


def test_markdown_keeps_text_exactly_as_written(responder):
    from reviews.export import as_markdown

    review = make_review(responder=responder, lessons_learned="Use `<script>` & 'quotes' carefully")
    assert "Use `<script>` & 'quotes' carefully" in as_markdown(review)
