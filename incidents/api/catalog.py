"""What a script needs to know besides incidents: the incident types with their custom fields
(what POST /incidents accepts in `type` and `fields`), the teams (what GET /incidents accepts in
`team`), and who is on call now and next per service.

Who is on call comes from the on-call area through incidents/panels.py (on_call_board): the API
area imports the core only (docs/architecture.md).
"""

import re
from datetime import datetime

from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from incidents import panels, roles
from incidents.api.auth import VIEW, TokenAuth
from incidents.api.common import ERRORS, one_of, unknown_parameters
from incidents.api.errors import FieldErrors
from incidents.api.schemas import Input, ServiceOut, Text
from incidents.models import CustomField, IncidentType, Service, Severity, Team, TeamMembership
from incidents.people import display_name

router = Router(tags=["catalog"])
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]+")


class CustomFieldOut(Schema):
    name: str = Field(description="The key in an incident's `fields`.")
    label: str
    kind: one_of(CustomField.Kind) = Field(
        description="text: a string; number: a number; choice: one of `choices`; date: YYYY-MM-DD; user: a username."
    )
    required: bool = Field(description="A report of this type must give it.")
    choices: list[str] = Field(description="For a choice field, its choices; else empty.")
    help_text: str

    @staticmethod
    def resolve_choices(field) -> list[str]:
        return field.choice_list if field.kind == CustomField.Kind.CHOICE else []


class TypeOut(Schema):
    slug: str = Field(description="What `type` takes in POST /incidents.")
    name: str
    description: str
    default_severity: Severity | None = Field(description="What a report without `severity` gets; null: it must say.")
    restricted_by_default: bool = Field(description="Its incidents are need-to-know from the start.")
    fields: list[CustomFieldOut]

    @staticmethod
    def resolve_default_severity(incident_type) -> str | None:
        return incident_type.default_severity or None

    @staticmethod
    def resolve_fields(incident_type) -> list:
        return list(incident_type.custom_fields.all())


def _types():
    return IncidentType.objects.order_by("position", "name").prefetch_related("custom_fields")


@router.get("/types", auth=TokenAuth(VIEW), response={200: list[TypeOut], **ERRORS}, url_name="types")
def list_types(request: HttpRequest):
    """Every incident type, in the report form's order, with its custom fields (two queries)."""
    unknown_parameters(request, ())
    return list(_types())


@router.get("/types/{slug}", auth=TokenAuth(VIEW), response={200: TypeOut, **ERRORS}, url_name="type")
def get_type(request: HttpRequest, slug: str):
    """One incident type by its slug, with its custom fields."""
    # A slug is letters, digits, - and _: anything else (a NUL, say) names no type.
    found = _types().filter(slug=slug).first() if SLUG_RE.fullmatch(slug) else None
    if found is None:
        raise Http404(f"There is no incident type “{slug}”; the types are: {', '.join(_slugs())}.")
    return found


def _slugs() -> list[str]:
    return list(IncidentType.objects.order_by("position", "name").values_list("slug", flat=True))


# --- teams ------------------------------------------------------------------------------


class TeamMemberOut(Schema):
    username: str
    name: str
    manager: bool = Field(description="A team manager: configures the team's rotations and stakeholder lists.")


class TeamOut(Schema):
    slug: str = Field(description="What `team` takes in GET /incidents.")
    name: str
    description: str
    services: list[ServiceOut]
    members: list[TeamMemberOut]

    @staticmethod
    def resolve_services(team) -> list:
        return list(team.services.all())

    @staticmethod
    def resolve_members(team) -> list[dict]:
        return [
            {"username": m.user.get_username(), "name": display_name(m.user), "manager": m.is_manager}
            for m in team.memberships.all()
        ]


@router.get("/teams", auth=TokenAuth(VIEW), response={200: list[TeamOut], **ERRORS}, url_name="teams")
def list_teams(request: HttpRequest):
    """Every team by name, with its services and members (three queries, however many teams)."""
    unknown_parameters(request, ())
    members = TeamMembership.objects.select_related("user").order_by("-is_manager", "user__username")
    return list(
        Team.objects.order_by("name").prefetch_related(
            Prefetch("services", queryset=Service.objects.only("slug", "name", "team").order_by("name")),
            Prefetch("memberships", queryset=members),
        )
    )


# --- who is on call ----------------------------------------------------------------------


class PersonOut(Schema):
    username: str
    name: str


class ShiftOut(Schema):
    person: PersonOut
    start: datetime
    end: datetime
    override: bool = Field(description="An override put this person on call (someone covers a shift).")


class OnCallOut(Schema):
    service: ServiceOut
    rotation: str | None = Field(description="The rotation that answers for the service; null: none does.")
    now: ShiftOut | None = Field(description="Who is on call now; null: nobody.")
    next: ShiftOut | None = Field(description="The next shift (within eight weeks), or null.")


class OnCallFilters(Input):
    service: Text | None = Field(None, description="Only this service (its slug).")


def _shift(shift: dict | None) -> dict | None:
    if shift is None:
        return None
    user = shift["user"]
    person = {"username": user.get_username(), "name": display_name(user)}
    return {"person": person, "start": shift["start"], "end": shift["end"], "override": shift["override"]}


@router.get(
    "/oncall", auth=TokenAuth(roles.VIEW_ROTATION), response={200: list[OnCallOut], **ERRORS}, url_name="oncall"
)
def who_is_on_call(request: HttpRequest, filters: Query[OnCallFilters]):
    """Per service (by name), who is on call now and who is next: the dashboard's on-call board."""
    unknown_parameters(request, OnCallFilters.model_fields)
    if filters.service is not None and not Service.objects.filter(slug=filters.service).exists():
        raise FieldErrors([("service", f"There is no service with the slug “{filters.service}”.")])
    board = panels.on_call_board(timezone.now()) or []
    return [
        {"service": row["service"], "rotation": row["rotation"], "now": _shift(row["now"]), "next": _shift(row["next"])}
        for row in board
        if filters.service is None or row["service"].slug == filters.service
    ]
