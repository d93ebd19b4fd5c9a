"""An incident's history and who follows it: the timeline (cursor pages), notes (read, add),
status updates (read; posting them is POST /incidents/{ref}/updates in endpoints.py), and
following (follow, unfollow, who follows).

The same rules as the incident page: everyone who may see the incident reads its timeline and
updates; a note needs workflow.may_add_note (responders, and reporters on their own reports);
following is for people with follow_incident; who follows is for those who may see the delivery
ledger (view_notification: managers), as it says who hears of the incident.
"""

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Query, Router, Schema, Status

from incidents import idempotency, roles, workflow
from incidents.api.auth import VIEW, TokenAuth
from incidents.api.common import (
    BODY_ERRORS,
    ERRORS,
    CursorPage,
    incident_or_404,
    one_of,
    page_after,
    unknown_parameters,
)
from incidents.api.errors import FieldErrors, form_errors
from incidents.api.schemas import Input, QueryBool, Text, UpdateOut, limited
from incidents.forms import NoteForm
from incidents.models import StatusUpdate, Subscription, TimelineEntry

router = Router(tags=["timeline"])

# What of an entry's data the API shows: how it came (via) and what changed. The rest (ids of
# other rows, e.g. a linked incident's) is Beacon's own bookkeeping.
SHOWN_DATA = {"via", "old", "new", "lead", "raised", "confirmed", "reopened", "reactivated"} | {
    "public",
    "phase",
    "action",
    "label",
}


class EntryOut(Schema):
    """One line of the incident's history."""

    id: int
    kind: one_of(TimelineEntry.Kind)
    created_at: datetime
    author: str | None = Field(description="Username; null when Beacon itself (an integration, an alert) wrote it.")
    text: str = Field(description="As written (Markdown for notes).")
    details: dict[str, Any] = Field(
        description="What changed, where the kind has it: `old`/`new` (status, severity, lead), `via` (web, api, "
        "slack, email, alert), and flags such as `reopened`, `raised`, `public`.",
        examples=[{"old": "reported", "new": "acknowledged", "via": "api"}],
    )

    @staticmethod
    def resolve_author(entry) -> str | None:
        return entry.author.get_username() if entry.author else None

    @staticmethod
    def resolve_details(entry) -> dict:
        data = entry.data if isinstance(entry.data, dict) else {}
        return {key: value for key, value in data.items() if key in SHOWN_DATA}


class EntryPage(CursorPage):
    items: list[EntryOut]


class UpdatePage(CursorPage):
    items: list[UpdateOut]


class Cursor(Input):
    after: Text | None = Field(None, description="The `cursor` of the previous page; absent: from the start.")
    limit: int = Field(50, ge=1, le=200, description="Items per page (at most 200).")
    order: str = Field("oldest", pattern="^(oldest|newest)$", description="oldest (the default) or newest first.")


class TimelineFilters(Cursor):
    kind: list[one_of(TimelineEntry.Kind)] = Field([], description="Only entries of these kinds; repeat for several.")


class UpdateFilters(Cursor):
    public: QueryBool | None = Field(None, description="true: public updates only; false: internal ones only.")


class NoteIn(Input):
    text: limited(20000) = Field(json_schema_extra={"minLength": 1, "maxLength": 20000}, description="Markdown.")


class FollowOut(Schema):
    following: bool


class FollowerOut(Schema):
    username: str
    since: datetime

    @staticmethod
    def resolve_username(subscription) -> str:
        return subscription.user.get_username()

    @staticmethod
    def resolve_since(subscription) -> datetime:
        return subscription.created_at


class FollowerPage(CursorPage):
    items: list[FollowerOut]


def _entries(request: HttpRequest, ref: str, filters: Cursor, kinds: list[str]) -> dict:
    incident = incident_or_404(request, ref)
    rows = TimelineEntry.objects.filter(incident=incident).select_related("author")
    if kinds:
        rows = rows.filter(kind__in=kinds)
    items, page = page_after(
        request, rows, after=filters.after, limit=filters.limit, newest_first=filters.order == "newest"
    )
    return {"items": items, **page}


@router.get("/incidents/{ref}/timeline", auth=TokenAuth(VIEW), response={200: EntryPage, **ERRORS}, url_name="timeline")
def read_timeline(request: HttpRequest, ref: str, filters: Query[TimelineFilters]):
    """The incident's history, oldest first, a page at a time (two queries a page). Follow `next`,
    or keep the last `cursor` and ask again later for what happened since."""
    unknown_parameters(request, TimelineFilters.model_fields)
    return _entries(request, ref, filters, list(filters.kind))


@router.get("/incidents/{ref}/notes", auth=TokenAuth(VIEW), response={200: EntryPage, **ERRORS}, url_name="notes")
def list_notes(request: HttpRequest, ref: str, filters: Query[Cursor]):
    """The incident's notes (timeline entries of kind `note`), a page at a time."""
    unknown_parameters(request, Cursor.model_fields)
    return _entries(request, ref, filters, [TimelineEntry.Kind.NOTE])


@router.post(
    "/incidents/{ref}/notes",
    auth=TokenAuth(VIEW),
    response={201: EntryOut, **BODY_ERRORS},
    url_name="note_add",
)
def add_note(request: HttpRequest, response: HttpResponse, ref: str, payload: NoteIn):
    """Add a note to the timeline (Markdown; notes are never edited, a correction is a new note).
    Responders may note any incident they see, reporters their own reports; an integration token
    writes as Beacon. An `Idempotency-Key` header makes a retry land on the first note."""
    incident = incident_or_404(request, ref)
    caller = request.auth
    if caller.user is not None and not workflow.may_add_note(caller.user, incident):
        raise PermissionDenied("Your role does not allow notes on this incident.")
    form = NoteForm(data={"text": payload.text, "idempotency_token": ""})
    if not form.is_valid():
        raise form_errors(form)
    key = request.headers.get("Idempotency-Key", "")
    if key and not idempotency.TOKEN_RE.match(key):
        raise FieldErrors([("Idempotency-Key", "Use 8 to 100 letters, digits or - _ . : (a UUID is fine).")])
    owner = f"user:{caller.user.pk}" if caller.user is not None else f"integration:{caller.integration.pk}"
    try:
        with workflow.via(workflow.VIA_API):
            done = idempotency.once(
                owner=owner,
                scope="api:note",
                key=key,
                create=lambda: workflow.add_note(incident, by=caller.by, text=form.cleaned_data["text"]),
                url_of=lambda entry: f"{incident.get_absolute_url()}#entry-{entry.pk}",
                ref_of=lambda entry: str(entry.pk),
                request_fingerprint=idempotency.fingerprint({"ref": incident.ref, "text": payload.text}),
            )
    except idempotency.KeyReused:
        raise FieldErrors(
            [("Idempotency-Key", "This key was already used for a different note: use a new key for a new note.")]
        ) from None
    if done.replayed:
        response["Idempotent-Replayed"] = "true"
    return Status(201, TimelineEntry.objects.select_related("author").get(pk=int(done.ref), incident=incident))


def list_updates(request: HttpRequest, ref: str, filters: Query[UpdateFilters]):
    """The incident's status updates, public and internal, oldest first, a page at a time."""
    unknown_parameters(request, UpdateFilters.model_fields)
    incident = incident_or_404(request, ref)
    rows = StatusUpdate.objects.filter(incident=incident).select_related("author")
    if filters.public is not None:
        rows = rows.filter(public=filters.public)
    items, page = page_after(
        request, rows, after=filters.after, limit=filters.limit, newest_first=filters.order == "newest"
    )
    return {"items": items, **page}


def register_on_default_router(api: NinjaAPI) -> None:
    """GET /incidents/{ref}/updates shares its path with POST (endpoints.py), and Django routes a
    path to one router only: so it goes on the API's own router, beside the POST."""
    api.get("/incidents/{ref}/updates", auth=TokenAuth(VIEW), response={200: UpdatePage, **ERRORS}, tags=["timeline"])(
        list_updates
    )


# --- following ---------------------------------------------------------------------------


@router.post(
    "/incidents/{ref}/follow",
    auth=TokenAuth(roles.FOLLOW_INCIDENT, integrations=False),
    response={200: FollowOut, **ERRORS},
    url_name="follow",
)
def follow(request: HttpRequest, ref: str):
    """Follow the incident: hear its public updates and its resolution. Following twice is fine."""
    incident = incident_or_404(request, ref)
    Subscription.objects.follow(request.auth.user, incident=incident)
    return {"following": True}


@router.post(
    "/incidents/{ref}/unfollow",
    auth=TokenAuth(roles.FOLLOW_INCIDENT, integrations=False),
    response={200: FollowOut, **ERRORS},
    url_name="unfollow",
)
def unfollow(request: HttpRequest, ref: str):
    """Stop following the incident (the service you follow, if any, still tells you of it)."""
    incident = incident_or_404(request, ref)
    Subscription.objects.filter(user=request.auth.user, incident=incident).delete()
    return {"following": False}


class FollowerFilters(Input):
    after: Text | None = Field(None, description="The `cursor` of the previous page.")
    limit: int = Field(50, ge=1, le=200)


@router.get(
    "/incidents/{ref}/followers",
    auth=TokenAuth(roles.VIEW_NOTIFICATION, integrations=False),
    response={200: FollowerPage, **ERRORS},
    url_name="followers",
)
def list_followers(request: HttpRequest, ref: str, filters: Query[FollowerFilters]):
    """The people who follow the incident itself (not those following its service), oldest first."""
    unknown_parameters(request, FollowerFilters.model_fields)
    incident = incident_or_404(request, ref)
    rows = Subscription.objects.filter(incident=incident, user__isnull=False).select_related("user")
    items, page = page_after(request, rows, after=filters.after, limit=filters.limit)
    return {"items": items, **page}
