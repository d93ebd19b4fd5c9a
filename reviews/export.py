"""A review as one Markdown document: what "Download as Markdown" gives."""

from django.template.loader import render_to_string

from reviews import prefill
from reviews.models import Review


def filename(review: Review) -> str:
    return f"{review.incident.ref}-post-incident-review.md"


def as_markdown(review: Review) -> str:
    """The complete post-mortem: facts, key times and durations, every section, action items,
    runbook changes, authors and approver. Plain Markdown, readable as text."""
    incident = review.incident
    times = prefill.key_times(incident)
    context = {
        "review": review,
        "incident": incident,
        "times_table": prefill.durations_markdown(times),
        "sections": review.sections() + [(s["name"], s["title"], s["text"]) for s in review.required_sections()],
        "action_items": review.action_items.select_related("owner").order_by("due_date", "pk"),
        "authors": review.authors.order_by("first_name", "username"),
        "revisions": review.runbook_revisions.select_related("service", "author"),
    }
    text = render_to_string("reviews/review.md", context)
    # Templates leave blank lines where tags were; a document reads better with at most one.
    lines, blank = [], False
    for line in text.splitlines():
        if not line.strip():
            if not blank:
                lines.append("")
            blank = True
        else:
            lines.append(line.rstrip())
            blank = False
    return "\n".join(lines).strip() + "\n"
