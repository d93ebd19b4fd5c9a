"""What a new review starts with: facts copied from the incident, and times derived from it.

The incident and its timeline are only read here; the review gets its own copy to edit.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.timezone import localtime

from incidents.models import Incident, TimelineEntry
from incidents.people import display_name
from incidents.templatetags.incident_tags import duration

Kind = TimelineEntry.Kind


@dataclass(frozen=True)
class KeyTimes:
    occurred: datetime
    reported: datetime
    acknowledged: datetime | None
    mitigated: datetime | None
    resolved: datetime | None

    @property
    def moments(self) -> list[tuple[str, datetime | None]]:
        return [
            ("Started", self.occurred),
            ("Reported", self.reported),
            ("Acknowledged", self.acknowledged),
            ("Mitigated", self.mitigated),
            ("Resolved", self.resolved),
        ]

    @property
    def durations(self) -> list[tuple[str, timedelta | None]]:
        """The derived durations the review shows; None where the incident never got there."""
        return [
            ("Time to detect (started → reported)", _span(self.occurred, self.reported)),
            ("Time to acknowledge (reported → acknowledged)", _span(self.reported, self.acknowledged)),
            ("Time to mitigate (reported → mitigated)", _span(self.reported, self.mitigated)),
            ("Time to resolve (reported → resolved)", _span(self.reported, self.resolved)),
            ("User impact (started → mitigated, or resolved)", self.user_impact),
        ]

    @property
    def user_impact(self) -> timedelta | None:
        # Users stop hurting at mitigation; an incident resolved without a mitigation step
        # hurt them until it was resolved.
        return _span(self.occurred, self.mitigated or self.resolved)


def _span(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return max(end - start, timedelta(0))


def key_times(incident: Incident) -> KeyTimes:
    return KeyTimes(
        occurred=incident.occurred_at,
        reported=incident.reported_at,
        acknowledged=incident.acknowledged_at,
        mitigated=incident.mitigated_at,
        resolved=incident.resolved_at,
    )


def _describe(entry: TimelineEntry) -> str:
    data = entry.data or {}
    text = " ".join(entry.text.split())
    if entry.kind == Kind.REPORTED:
        return f"Reported as {str(data.get('severity', '')).capitalize()}"
    if entry.kind == Kind.STATUS_CHANGE:
        verb = "Reopened" if data.get("reopened") else f"{str(data.get('new', '')).capitalize()}"
        return f"{verb}: {text}" if text else verb
    if entry.kind == Kind.SEVERITY_CHANGE:
        change = f"Severity {data.get('old')} → {data.get('new')}"
        return f"{change}: {text}" if text else change
    if entry.kind == Kind.LEAD_CHANGE:
        return f"Lead {data.get('old') or 'nobody'} → {data.get('new') or 'nobody'}"
    if entry.kind == Kind.EDIT:
        return "Report edited (" + ", ".join(sorted(data.get("changes", {}))) + ")"
    if entry.kind == Kind.ROLE:
        return f"{data.get('role')}: {data.get('old') or 'nobody'} → {data.get('new') or 'nobody'}"
    if entry.kind == Kind.TASK:
        assigned = f" → {data.get('new') or 'nobody'}" if data.get("action") == "assigned" else ""
        return f"Task {data.get('action')}: {data.get('task')}{assigned}"
    label = entry.get_kind_display()
    return f"{label}: {text}" if text else label


def draft_timeline(entries) -> str:
    """A markdown list, one line per timeline entry: time, what happened, who."""
    lines = []
    for entry in entries:
        when = localtime(entry.created_at).strftime("%Y-%m-%d %H:%M %Z")
        lines.append(f"- **{when}** — {_describe(entry)} ({display_name(entry.author, 'Beacon')})")
    return "\n".join(lines)


def initial_sections(incident: Incident) -> dict[str, str]:
    """Field values a new review starts with."""
    entries = incident.timeline.select_related("author").order_by("created_at", "pk")
    summary = incident.description.strip()
    if incident.resolution_summary:
        summary += "\n\n**Resolution:** " + incident.resolution_summary.strip()
    return {
        "summary": summary,
        "impact": incident.impact.strip(),
        "timeline": draft_timeline(entries),
    }


def durations_markdown(times: KeyTimes) -> str:
    rows = ["| | |", "| --- | --- |"]
    for label, moment in times.moments:
        rows.append(f"| {label} | {localtime(moment).strftime('%Y-%m-%d %H:%M %Z') if moment else '—'} |")
    for label, span in times.durations:
        rows.append(f"| {label} | {duration(span) if span is not None else '—'} |")
    return "\n".join(rows)
