"""Exports: the incident list as CSV and JSON (exactly what its filters select, streamed), and one
incident with its timeline and status updates as JSON and Markdown. Columns: docs/reports.md.

Everything goes through the same need-to-know rule as the pages: the list through
`Incident.objects.visible_to`, one incident through `get_incident_for` (404 when not visible).
"""

import csv
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from incidents import roles, teams
from incidents.access import get_incident_for, role_required
from incidents.filters import IncidentFilter
from incidents.models import Incident, StatusUpdate

CHUNK = 2000

# (column, how it is read from a values() row). The same columns in CSV and JSON.
COLUMNS = [
    "ref",
    "title",
    "severity",
    "status",
    "type",
    "service",
    "source",
    "restricted",
    "public",
    "reporter",
    "lead",
    "occurred_at",
    "reported_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
]
_FIELDS = {
    "ref": "pk",
    "type": "type__slug",
    "service": "service__slug",
    "reporter": "reporter__username",
    "lead": "lead__username",
}
TIMES = {"occurred_at", "reported_at", "acknowledged_at", "mitigated_at", "resolved_at", "closed_at"}


def _rows(request: HttpRequest):
    """The filtered rows as dicts of COLUMNS, or the filter form when a value does not parse."""
    # The list's "my teams" or everything (incidents/teams.py): the export is what the list shows.
    visible = teams.scope(request).apply(Incident.objects.visible_to(request.user))
    selected = IncidentFilter(request.GET, queryset=visible, request=request)
    if not selected.is_valid():
        return None, selected.form
    fields = [_FIELDS.get(column, column) for column in COLUMNS]
    values = selected.qs.values_list(*fields).iterator(chunk_size=CHUNK)

    def rows():
        for found in values:
            row = dict(zip(COLUMNS, found, strict=True))
            row["ref"] = f"INC-{row['ref']}"
            for column in TIMES:
                if row[column] is not None:
                    row[column] = row[column].isoformat()
            yield row

    return rows(), None


def refusal(form) -> HttpResponse:
    """400 naming each filter that is wrong and why, for a CSV client (the list's and the reports')."""
    errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())
    return HttpResponse(f"Bad filter: {errors}\n", status=400, content_type="text/plain; charset=utf-8")


def _batched(pieces, size: int = 500):
    """Join rows into chunks of `size`: one write per row made the response mostly overhead."""
    batch = []
    for piece in pieces:
        batch.append(piece)
        if len(batch) >= size:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


class Echo:
    """A file for csv.writer that hands each line back, to stream it."""

    def write(self, value):
        return value


@role_required(roles.VIEW_INCIDENT)
@require_safe
def list_csv(request: HttpRequest) -> HttpResponse:
    rows, form = _rows(request)
    if rows is None:
        return refusal(form)
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(COLUMNS)
        yield from _batched(writer.writerow([row[c] for c in COLUMNS]) for row in rows)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="incidents.csv"'
    return response


@role_required(roles.VIEW_INCIDENT)
@require_safe
def list_json(request: HttpRequest) -> HttpResponse:
    rows, form = _rows(request)
    if rows is None:
        return JsonResponse({"errors": {k: list(v) for k, v in form.errors.items()}}, status=400)

    def chunks():
        yield "["
        yield from _batched(("," if n else "") + json.dumps(row, cls=DjangoJSONEncoder) for n, row in enumerate(rows))
        yield "]\n"

    response = StreamingHttpResponse(chunks(), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="incidents.json"'
    return response


# --- one incident ----------------------------------------------------------------------


def incident_document(incident: Incident) -> dict:
    """An incident with its whole timeline and status updates: three queries."""
    document = {
        "ref": incident.ref,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "type": incident.type.slug,
        "service": incident.service.slug,
        "source": incident.source,
        "restricted": incident.restricted,
        "public": incident.public,
        "description": incident.description,
        "impact": incident.impact,
        "logs": incident.logs,
        "reporter": incident.reporter.username if incident.reporter else None,
        "lead": incident.lead.username if incident.lead else None,
        "resolution_summary": incident.resolution_summary,
    }
    for column in sorted(TIMES):
        value = getattr(incident, column)
        document[column] = value.isoformat() if value else None
    document["timeline"] = [
        {
            "at": entry.created_at.isoformat(),
            "kind": entry.kind,
            "author": entry.author.username if entry.author else None,
            "text": entry.text,
        }
        for entry in incident.timeline.select_related("author").order_by("created_at", "pk")
    ]
    document["status_updates"] = [
        {
            "at": update.created_at.isoformat(),
            "author": update.author.username if update.author else None,
            "public": update.public,
            "message": update.message,
        }
        for update in StatusUpdate.objects.filter(incident=incident).select_related("author").order_by("created_at")
    ]
    return document


@role_required(roles.VIEW_INCIDENT)
@require_safe
def incident_json(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    response = JsonResponse(incident_document(incident), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="{incident.ref}.json"'
    return response


@role_required(roles.VIEW_INCIDENT)
@require_safe
def incident_markdown(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    doc = incident_document(incident)
    lines = [
        f"# {doc['ref']}: {doc['title']}",
        "",
        f"- Severity: {doc['severity']}",
        f"- Status: {doc['status']}",
        f"- Service: {doc['service']}",
        f"- Type: {doc['type']}",
        f"- Restricted: {'yes' if doc['restricted'] else 'no'}",
    ]
    lines += [f"- {column.replace('_', ' ').capitalize()}: {doc[column]}" for column in sorted(TIMES) if doc[column]]
    lines += ["", "## Description", "", doc["description"], "", "## Impact on users", "", doc["impact"]]
    if doc["resolution_summary"]:
        lines += ["", "## Resolution", "", doc["resolution_summary"]]
    lines += ["", "## Status updates", ""]
    for update in doc["status_updates"]:
        visibility = "public" if update["public"] else "internal"
        lines.append(f"- {update['at']} ({visibility}, {update['author'] or 'Beacon'}): {update['message']}")
    lines += ["", "## Timeline", ""]
    for entry in doc["timeline"]:
        text = " ".join(entry["text"].split())
        lines.append(f"- {entry['at']} {entry['kind']} ({entry['author'] or 'Beacon'}){': ' + text if text else ''}")
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{incident.ref}.md"'
    return response
