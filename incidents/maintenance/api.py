"""Maintenance windows and silences in Beacon's API (/api/, docs/api.md): list them, make them,
cancel them, with the permissions of the pages (managers: windows; responders and managers:
silences; everyone with a role reads).

The API area may not import this one, so this module does not mount itself: `ready()` registers
`build` with the core (incidents/panels.py register_api_routes) and the API calls it with its
kit (incidents/api/common.py KIT: token auth, JSON errors, cursors). Every change goes through
incidents/maintenance/rules.py, as from the pages.
"""

from datetime import datetime, timedelta
from typing import Literal

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.timezone import now
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import AwareDatetime

from incidents import roles
from incidents.maintenance import rules
from incidents.maintenance.forms import period_problem
from incidents.models import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    MATCHERS_MAX,
    OPERATORS,
    MaintenanceWindow,
    Service,
    Silence,
    validate_matchers,
)

OBJECT_ID = Path(..., ge=1, le=2**63 - 1)
LONGEST_SILENCE_HOURS = 31 * 24


class WindowOut(Schema):
    id: int
    services: list[str] = Field(description="Slugs of the services in maintenance.")
    start: datetime
    end: datetime
    description: str = Field(description="Public: the status page shows it.")
    state: Literal["scheduled", "ongoing", "ended", "cancelled"]
    created_by: str | None = Field(description="Username; null when made by an integration.")
    created_at: datetime
    cancelled_at: datetime | None

    @staticmethod
    def resolve_services(window) -> list[str]:
        return [s.slug for s in window.services.all()]

    @staticmethod
    def resolve_state(window) -> str:
        return window.state()

    @staticmethod
    def resolve_created_by(window) -> str | None:
        return window.created_by.get_username() if window.created_by else None


class MatcherOut(Schema):
    name: str
    op: Literal[OPERATORS]
    value: str


class SilenceOut(Schema):
    id: int
    matchers: list[MatcherOut]
    starts_at: datetime
    expires_at: datetime
    comment: str
    active: bool = Field(description="In force now: started, not expired, not cancelled.")
    created_by: str | None
    created_at: datetime
    cancelled_at: datetime | None
    incident: str | None = Field(description="The incident whose alert group it was made from, if any.")
    silenced_alerts: int = Field(description="Alerts it held back so far.")

    @staticmethod
    def resolve_active(silence) -> bool:
        return silence.cancelled_at is None and silence.starts_at <= now() < silence.expires_at

    @staticmethod
    def resolve_created_by(silence) -> str | None:
        return silence.created_by.get_username() if silence.created_by else None

    @staticmethod
    def resolve_incident(silence) -> str | None:
        return f"INC-{silence.alert_group.incident_id}" if silence.alert_group_id else None

    @staticmethod
    def resolve_silenced_alerts(silence) -> int:
        return silence.silenced_alerts.count()


def build(kit) -> Router:
    """The maintenance router, made with the API's kit (see the module's docstring)."""
    router = Router(tags=["maintenance"])

    class WindowIn(kit.Input):
        services: list[kit.limited(100)] = Field(min_length=1, max_length=200, description="Service slugs.")
        start: AwareDatetime = Field(description="With its UTC offset, e.g. 2026-03-01T22:00:00+01:00.")
        end: AwareDatetime
        description: kit.limited(DESCRIPTION_MAX) = Field(
            json_schema_extra={"minLength": 1, "maxLength": DESCRIPTION_MAX}, description="Public."
        )

    class MatcherIn(kit.Input):
        name: kit.limited(100)
        op: Literal[OPERATORS]
        value: kit.limited(1000)

    class SilenceIn(kit.Input):
        matchers: list[MatcherIn] = Field(min_length=1, max_length=MATCHERS_MAX)
        hours: float = Field(2, gt=0, le=LONGEST_SILENCE_HOURS, description="How long it lasts from now.")
        comment: kit.limited(COMMENT_MAX) = Field("", json_schema_extra={"maxLength": COMMENT_MAX})

    class Listing(kit.Input):
        current: kit.QueryBool = Field(True, description="true: in force or to come only; false: all, newest first.")
        limit: int = Field(50, ge=1, le=200)

    def windows():
        return MaintenanceWindow.objects.select_related("created_by").prefetch_related("services")

    def silences():
        return Silence.objects.select_related("created_by", "alert_group").prefetch_related("silenced_alerts")

    def refused(message: str):
        return Status(409, {"detail": message})

    @router.get(
        "/maintenance-windows",
        auth=kit.TokenAuth(roles.VIEW_INCIDENT),
        response={200: list[WindowOut], **kit.ERRORS},
        url_name="maintenance_windows",
    )
    def list_windows(request: HttpRequest, filters: Query[Listing]):
        """Maintenance windows: ongoing and scheduled ones, soonest first (or all, newest first)."""
        kit.unknown_parameters(request, Listing.model_fields)
        if filters.current:
            return list(windows().current_or_upcoming().order_by("start", "pk")[: filters.limit])
        return list(windows().order_by("-start", "-pk")[: filters.limit])

    @router.post(
        "/maintenance-windows",
        auth=kit.TokenAuth(roles.ADD_MAINTENANCEWINDOW),
        response={201: WindowOut, **kit.BODY_ERRORS},
        url_name="maintenance_window_add",
    )
    def add_window(request: HttpRequest, payload: WindowIn):
        """Schedule maintenance: nobody is paged for these services while it lasts, the status page
        announces it, and the services' stakeholders get one email now and one when it ends."""
        slugs = list(dict.fromkeys(payload.services))
        found = {s.slug: s for s in Service.objects.filter(slug__in=slugs)}
        errors = [
            (f"services.{i}", f"There is no service “{slug}”.") for i, slug in enumerate(slugs) if slug not in found
        ]
        problem = period_problem(payload.start, payload.end)
        if problem:
            errors.append(("end", problem))
        if not payload.description.strip():
            errors.append(("description", "Say what users will notice."))
        if errors:
            raise kit.FieldErrors(errors)
        try:
            window = rules.schedule_window(
                by=request.auth.by,
                services=[found[slug] for slug in slugs],
                start=payload.start,
                end=payload.end,
                description=payload.description.strip(),
            )
        except ValidationError as error:
            raise kit.FieldErrors(_errors(error)) from None
        return Status(201, windows().get(pk=window.pk))

    @router.post(
        "/maintenance-windows/{window_id}/cancel",
        auth=kit.TokenAuth(roles.ADD_MAINTENANCEWINDOW),
        response={200: WindowOut, 409: kit.Error, **kit.ERRORS},
        url_name="maintenance_window_cancel",
    )
    def cancel_window(request: HttpRequest, window_id: int = OBJECT_ID):
        """Cancel a window that is not over (409 when it is over or cancelled already)."""
        window = MaintenanceWindow.objects.filter(pk=window_id).first()
        if window is None:
            raise Http404(f"There is no maintenance window {window_id}.")
        try:
            rules.cancel_window(window, by=request.auth.by)
        except rules.Refused as refusal:
            return refused(str(refusal))
        return windows().get(pk=window.pk)

    @router.get(
        "/silences",
        auth=kit.TokenAuth(roles.VIEW_INCIDENT),
        response={200: list[SilenceOut], **kit.ERRORS},
        url_name="silences",
    )
    def list_silences(request: HttpRequest, filters: Query[Listing]):
        """Silences: those in force, expiring soonest first (or all, newest first)."""
        kit.unknown_parameters(request, Listing.model_fields)
        if filters.current:
            return list(silences().live().filter(expires_at__gt=now()).order_by("expires_at", "pk")[: filters.limit])
        return list(silences().order_by("-created_at", "-pk")[: filters.limit])

    @router.post(
        "/silences",
        auth=kit.TokenAuth(roles.ADD_SILENCE),
        response={201: SilenceOut, **kit.BODY_ERRORS},
        url_name="silence_add",
    )
    def add_silence(request: HttpRequest, payload: SilenceIn):
        """Silence alerts whose labels match every matcher (as Alertmanager's: =, !=, =~, !~, regexes
        anchored), from now for `hours`: they are recorded but open no incident and page nobody."""
        matchers = [m.model_dump() for m in payload.matchers]
        try:
            validate_matchers(matchers)
            silence = rules.create_silence(
                by=request.auth.by,
                matchers=matchers,
                expires_at=now() + timedelta(hours=payload.hours),
                comment=payload.comment.strip(),
            )
        except ValidationError as error:
            raise kit.FieldErrors(_errors(error, default="matchers")) from None
        return Status(201, silences().get(pk=silence.pk))

    @router.post(
        "/silences/{silence_id}/cancel",
        auth=kit.TokenAuth(roles.ADD_SILENCE),
        response={200: SilenceOut, 409: kit.Error, **kit.ERRORS},
        url_name="silence_cancel",
    )
    def cancel_silence(request: HttpRequest, silence_id: int = OBJECT_ID):
        """Lift a silence in force (409 when it expired or was lifted already)."""
        silence = Silence.objects.filter(pk=silence_id).first()
        if silence is None:
            raise Http404(f"There is no silence {silence_id}.")
        try:
            rules.cancel_silence(silence, by=request.auth.by)
        except rules.Refused as refusal:
            return refused(str(refusal))
        return silences().get(pk=silence.pk)

    return router


def _errors(error: ValidationError, default: str = "(payload)") -> list[tuple[str, str]]:
    if hasattr(error, "error_dict"):
        return [
            (field if field != "__all__" else default, message)
            for field, messages in error.message_dict.items()
            for message in messages
        ]
    return [(default, message) for message in error.messages]
