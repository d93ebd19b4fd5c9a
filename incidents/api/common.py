"""What the API's routers (actions.py, timeline.py, catalog.py) share: the incidents a caller may
see, the lost-update check, the 409 that carries the current incident, and cursors.

Nothing here imports endpoints.py: endpoints.py registers the routers, so they may not import it.
"""

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Literal

from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet, TextChoices
from django.http import Http404, HttpRequest, JsonResponse
from ninja import Field, NinjaAPI, Schema
from pydantic import StrictInt

from incidents import workflow
from incidents.api.auth import TokenAuth
from incidents.api.errors import FieldErrors, form_errors
from incidents.api.schemas import (
    Day,
    Error,
    IncidentOut,
    Input,
    QueryBool,
    Text,
    ValidationErrors,
    limited,
)
from incidents.models import Incident, StatusUpdate

# The answers every authenticated endpoint may give besides its own (as in endpoints.py): 500 for
# a bug, 503 with Retry-After when the database cannot answer.
ERRORS: dict[int, Any] = {401: Error, 403: Error, 404: Error, 413: Error, 422: ValidationErrors, 500: Error, 503: Error}
# …and those that read a JSON body (400: not JSON).
BODY_ERRORS: dict[int, Any] = {400: Error, **ERRORS}
# The largest version a PositiveIntegerField holds on every database Beacon runs on.
VERSION_MAX = 2**31 - 1


# --- input that the schema describes exactly -----------------------------------------------
# limited, Day, Moment and QueryBool live in schemas.py (the endpoints there use them too).


def one_of(choices: type[TextChoices]) -> Any:
    """A Django choices class as a Literal: inline in the schema, where two enums of the same class
    name (TimelineEntry.Kind and CustomField.Kind, Review.State and ActionItem.State) would share
    one component and one would describe the other's values wrongly."""
    return Literal[tuple(choices.values)]


# A version in a JSON body: an integer, not a string of digits.
Version = StrictInt


class ConflictOut(Schema):
    """A 409: the incident's state does not allow the request. `current` is the incident as it is
    now when the request carried a stale `version` (someone changed it since you read it)."""

    detail: str
    current: IncidentOut | None = Field(None, description="The incident now; present when `version` was stale.")


def visible(request: HttpRequest) -> QuerySet[Incident]:
    """The incidents the caller may see: a person's token sees what that person sees; an
    integration token (Beacon itself) no restricted incident (incidents/access.py)."""
    return Incident.objects.visible_to(request.auth.user).for_list()


def incident_or_404(request: HttpRequest, ref: str) -> Incident:
    """One incident the caller may see; 404 for one that does not exist and for one they may not
    see alike (that a reference exists is itself information)."""
    incident = visible(request).by_ref(ref).first()
    if incident is None:
        raise Http404(f"There is no incident {ref}.")
    return incident


def full(request: HttpRequest, ref: str) -> Incident:
    """The incident with everything IncidentOut shows, in two queries; else 404."""
    updates = StatusUpdate.objects.select_related("author").order_by("created_at", "pk")
    incident = visible(request).prefetch_related(Prefetch("updates", queryset=updates)).by_ref(ref).first()
    if incident is None:
        raise Http404(f"There is no incident {ref}.")
    return incident


def act(request: HttpRequest, incident: Incident, version: int | None, change: Callable[[Incident], Any]) -> Any:
    """Run `change` (a workflow call) if the incident is still at `version`, in one transaction
    with the row locked, so a change made between the check and `change` cannot slip through.

    `version` is what the caller last read (IncidentOut.version); a stale one raises
    workflow.Conflict, answered 409 with the incident as it is now (install_conflicts).
    None skips the check (only where older clients send none: acknowledge, resolve).
    """
    with transaction.atomic(), workflow.via(workflow.VIA_API):
        if version is not None:
            locked = Incident.objects.select_for_update(of=("self",)).only("pk", "version").get(pk=incident.pk)
            if locked.version != version:
                raise workflow.Conflict(
                    f"{incident.ref} was changed since you read it (you sent version {version}; it is at "
                    f"version {locked.version} now). Nothing was done: read `current` and decide again.",
                    incident,
                )
        return change(incident)


def install_conflicts(api: NinjaAPI) -> None:
    """A stale version answers 409 with the current incident (the general 409 in errors.py has
    only `detail`: the incident's status did not allow the move)."""

    @api.exception_handler(workflow.Conflict)
    def stale(request: HttpRequest, exc: workflow.Conflict):
        body: dict[str, Any] = {"detail": str(exc)}
        if isinstance(exc.current, Incident):
            current = visible(request).filter(pk=exc.current.pk)
            found = full(request, exc.current.ref) if current.exists() else None
            if found is not None:
                body["current"] = IncidentOut.from_orm(found).model_dump(mode="json")
        return JsonResponse(body, status=409)


# --- cursors ---------------------------------------------------------------------------
# A cursor names a position in a list ordered by (created_at, pk): lists that grow at their end
# (the timeline, status updates) can be read page by page and then polled with the last cursor,
# and a row written meanwhile is neither skipped nor read twice, which offsets cannot promise.


class CursorPage(Schema):
    cursor: str | None = Field(
        description="The position after the last item returned: send it as `after` for the next page, or "
        "later to get only what was added since. Null when the page is empty (keep your previous cursor)."
    )
    has_more: bool = Field(description="More items follow now; ask again with `after=cursor`.")
    next: str | None = Field(description="The URL of the next page, or null when there is none now.")


def encode_cursor(moment: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[datetime, int]:
    """(created_at, pk) from a cursor this API gave out; else a 422 naming `field`."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pk = text.split("|")
        when = datetime.fromisoformat(moment)
        number = int(pk)
        if when.tzinfo is None or not 0 < number < 2**63:
            raise ValueError
        return when.astimezone(UTC), number
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
        message = "This is not a cursor Beacon gave out: send back the `cursor` of a previous page."
        raise FieldErrors([(field, message)]) from None


def page_after(
    request: HttpRequest, rows: QuerySet, *, after: str | None, limit: int, newest_first: bool = False
) -> tuple[list, dict]:
    """One page of `rows` (ordered by created_at, pk) after the cursor `after`: the items and the
    page's cursor, has_more and next. One query."""
    if after:
        moment, pk = decode_cursor(after)
        if newest_first:
            rows = rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk))
        else:
            rows = rows.filter(Q(created_at__gt=moment) | Q(created_at=moment, pk__gt=pk))
    order = ("-created_at", "-pk") if newest_first else ("created_at", "pk")
    found = list(rows.order_by(*order)[: limit + 1])
    items, has_more = found[:limit], len(found) > limit
    cursor = encode_cursor(items[-1].created_at, items[-1].pk) if items else None
    next_url = None
    if has_more and cursor:
        query = request.GET.copy()
        query["after"] = cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return items, {"cursor": cursor, "has_more": has_more, "next": next_url}


def unknown_parameters(request: HttpRequest, known) -> None:
    """A misspelt query parameter is an error, not silently ignored (as on GET /api/incidents)."""
    unknown = sorted(set(request.GET) - set(known))
    if unknown:
        raise FieldErrors([(name, "Unknown query parameter.") for name in unknown])


# --- the kit lent to routers built outside the API area ------------------------------------


def _kit() -> SimpleNamespace:
    """What a router registered through incidents/panels.py (register_api_routes) builds with, so
    that it keeps the API's contract (tokens, JSON errors, cursors, need-to-know) without importing
    the API area: reviews may import only the core."""
    return SimpleNamespace(
        TokenAuth=TokenAuth,
        Input=Input,
        Text=Text,
        limited=limited,
        Day=Day,
        QueryBool=QueryBool,
        one_of=one_of,
        Version=Version,
        Error=Error,
        ERRORS=ERRORS,
        BODY_ERRORS=BODY_ERRORS,
        VERSION_MAX=VERSION_MAX,
        FieldErrors=FieldErrors,
        form_errors=form_errors,
        CursorPage=CursorPage,
        page_after=page_after,
        unknown_parameters=unknown_parameters,
        incident_or_404=incident_or_404,
    )


KIT = _kit()
