"""The incident page's timeline entries are drawn by a template tag (incident_tags.timeline_entry)
instead of an include of incidents/_entry.html each, for speed: this proves the tag draws exactly
what that template drew (kept in fixtures/ for the comparison), entry for entry, every kind and
every odd value, and escapes what people wrote."""

from pathlib import Path

import pytest
from django.template import Context, Template

from incidents.models import TimelineEntry
from incidents.templatetags.incident_tags import timeline_entry
from incidents.tests.factories import make_incident

BEFORE = Template((Path(__file__).parent / "fixtures" / "entry_template_before_the_tag.html").read_text())

EVIL = "<b>\"x\" & 'y'</b>"
CASES = [
    ("note", "a **finding** <script>x</script>", {}),
    ("note", "", {"via": "slack"}),
    ("reported", "", {"severity": "high", "type": "Security incident", "restricted": True, "source": "alertmanager"}),
    ("reported", "", {"severity": "low", "source": "web", "tasks": 1}),
    ("reported", "", {"severity": "critical", "tasks": 3, "via": "api"}),
    ("reported", "", {}),
    ("status_change", "Rolled back <i>it</i>", {"old": "mitigated", "new": "resolved", "lead": EVIL}),
    ("status_change", "", {"old": "resolved", "new": "reported", "reopened": True}),
    ("status_change", "why", {"old": "nonsense", "new": None}),
    ("severity_change", EVIL, {"old": "high", "new": "critical"}),
    ("severity_change", "", {"old": "odd"}),
    ("lead_change", "", {"old": "", "new": EVIL}),
    ("lead_change", "", {"old": "Rob Responder", "new": None}),
    ("edit", "", {"changes": {"title": ["a" * 200, EVIL], "Data affected?": ["unknown", "yes"]}}),
    ("edit", "", {"changes": {"impact": ["only one"], "n": [None, 3]}}),
    ("edit", "", {"changes": "not a mapping"}),
    ("role", "", {"role": "Scribe", "old": None, "new": "Rob Responder"}),
    ("task", "", {"action": "assigned", "task": EVIL, "required": True, "new": ""}),
    ("task", "", {"action": "ticked", "task": "Write the review"}),
    ("visibility", "", {"new": True}),
    ("visibility", "", {"new": False}),
    ("access", "", {"participant_added": EVIL}),
    ("access", "", {"participant_removed": "Ola"}),
    ("access", "Need to know", {"restricted": True, "was_public": True}),
    ("access", "", {"restricted": False}),
    ("status_update", "We are <on> it\nstill", {"public": True}),
    ("status_update", "Internal.", {"public": False}),
    ("alert_fired", "HighErrorRate <firing>", {"via": "alert"}),
    ("page", "", {"via": "web"}),
    ("review", "Published", {}),
    ("note", "a list is odd data", ["not", "a", "dict"]),
]


@pytest.mark.parametrize("kind, text, data", CASES)
def test_an_entry_is_drawn_as_its_former_template_drew_it(reporter, kind, text, data):
    incident = make_incident(by=reporter)
    entry = TimelineEntry.objects.create(incident=incident, author=reporter, kind=kind, text=text, data=data)
    entry = TimelineEntry.objects.select_related("author").get(pk=entry.pk)
    assert str(timeline_entry(entry)) == BEFORE.render(Context({"entry": entry}))


def test_what_people_wrote_is_escaped_in_an_entry(reporter):
    incident = make_incident(by=reporter)
    entry = TimelineEntry.objects.create(
        incident=incident, author=reporter, kind="lead_change", data={"old": "<i>a</i>", "new": '"><script>'}
    )
    html = str(timeline_entry(entry))
    assert "<script>" not in html and "&lt;i&gt;a&lt;/i&gt;" in html and "&quot;&gt;&lt;script&gt;" in html
