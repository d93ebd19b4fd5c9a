"""The shapes the API reads and writes (pydantic, through django-ninja).

Strings from outside are checked for what PostgreSQL cannot store (NUL, lone
surrogates) here, so such input is a 422 that names the field, never a 500.
"""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Field, Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, StrictBool

from incidents import typefields
from incidents.forms import DESCRIPTION_MAX, IMPACT_MAX, LOGS_MAX, RESOLUTION_MAX, TITLE_MAX, UPDATE_MAX
from incidents.models import Incident, Severity, Status


def storable(value: str) -> str:
    """Refuse text PostgreSQL would reject: NUL characters and unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("Null characters are not allowed.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Contains an invalid character (an unpaired surrogate).") from None
    return value


Text = Annotated[str, AfterValidator(storable)]

# The list's search box (incidents.filters.IncidentFilter).
SEARCH_MAX = 200

# What the JSON schema says of texts, as the server checks them. The forms strip surrounding
# whitespace first, so a required text needs one character that is neither whitespace nor NUL;
# the sizes (maxLength) count every character sent, surrounding whitespace included (pydantic
# checks them before the form strips). Server-side: storable() above and the forms.
ANY_TEXT = r"^[^\x00]*$"
VISIBLE_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"
# A title: one line of visible text (incidents.forms.check_title): no control characters, line or
# paragraph separators or text-direction controls between its surrounding whitespace, and at least
# one character that is neither whitespace nor invisible (zero-width spaces and joiners, soft hyphen).
_TITLE_CHAR = r"[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_TITLE_VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff\u00ad]"
TITLE_PATTERN = rf"^\s*{_TITLE_CHAR}*{_TITLE_VISIBLE}{_TITLE_CHAR}*\s*$"


def limited(limit: int) -> Any:
    """Text of at most `limit` characters, every character sent counted (surrounding whitespace
    too): checked here, before the form strips it, so the schema's maxLength is what is enforced.
    (Not pydantic's max_length: its check cannot name the unpaired surrogate storable() reports.)"""

    def at_most(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"Ensure this value has at most {limit} characters (it has {len(value)}).")
        return value

    return Annotated[str, AfterValidator(storable), AfterValidator(at_most)]


def required_text(limit: int, **kwargs) -> Any:
    """The schema of a text the client must send with something visible in it, of at most `limit`
    characters (its type: limited(limit))."""
    return Field(json_schema_extra={"minLength": 1, "maxLength": limit, "pattern": VISIBLE_TEXT}, **kwargs)


def _iso(kind: str, shape: str, example: str):
    """Only an ISO 8601 string is read as a day or a time: pydantic alone would also take a
    number, or a numeric string, as seconds since 1970 (`reported_before=0` meant 1970-01-01)."""
    pattern = re.compile(shape)

    def check(value: Any) -> Any:
        if isinstance(value, date):
            return value
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"Enter {kind} like {example}.")
        return value

    return BeforeValidator(check)


Day = Annotated[date, _iso("a day", r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z", "2026-03-01")]
Moment = Annotated[
    datetime, _iso("a date and time", r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}", "2026-03-01T14:05:00+01:00")
]


def _query_bool(value: Any) -> Any:
    # A query string says true or false (pydantic alone would also take yes, on, 1, t…).
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("Enter true or false.")
    return value


QueryBool = Annotated[bool, BeforeValidator(_query_bool)]


class Input(Schema):
    # A misspelt field ("severty") is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


# --- reading ---------------------------------------------------------------------------


class ServiceOut(Schema):
    slug: str
    name: str


class IncidentSummary(Schema):
    """An incident as listed: everything but the long texts."""

    ref: str = Field(examples=["INC-42"])
    title: str
    type: str = Field(description="The incident type's slug (e.g. downtime, performance, security).")
    restricted: bool = Field(description="Need-to-know: only participants, the Security group and managers see it.")
    severity: Severity
    status: Status
    service: ServiceOut
    source: Incident.Source
    reporter: str | None = Field(description="Username; null when Beacon itself reported it.")
    lead: str | None = Field(description="Username of the engineer in charge, if any.")
    public: bool = Field(description="Shown on the public status page.")
    occurred_at: datetime
    reported_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    url: str = Field(description="The incident's page in Beacon.")
    version: int = Field(
        description="Bumped by every change to the report or its severity. Send it with a change "
        "(mitigate, close…): if the incident changed since you read it, the answer is 409 and nothing changes."
    )

    @staticmethod
    def resolve_type(incident: Incident) -> str:
        return incident.type.slug

    @staticmethod
    def resolve_reporter(incident: Incident) -> str | None:
        return incident.reporter.get_username() if incident.reporter else None

    @staticmethod
    def resolve_lead(incident: Incident) -> str | None:
        return incident.lead.get_username() if incident.lead else None

    @staticmethod
    def resolve_url(incident: Incident) -> str:
        return settings.SITE_URL + incident.get_absolute_url()


class UpdateOut(Schema):
    id: int
    message: str
    public: bool
    author: str | None = Field(description="Username; null when posted by an integration.")
    created_at: datetime

    @staticmethod
    def resolve_author(update) -> str | None:
        return update.author.get_username() if update.author else None


class IncidentOut(IncidentSummary):
    """One incident in full, with its type's custom fields and its status updates (oldest first)."""

    description: str
    impact: str
    logs: str
    fields: dict[str, Any] = Field(
        description="The type's custom fields that are set, by name: text and choices as strings, numbers as "
        "numbers, dates as YYYY-MM-DD, people by username. Unset fields are absent.",
        examples=[{"data_affected": "unknown", "customers_notified": "no"}],
    )
    source_resolved_at: datetime | None
    resolution_summary: str
    updates: list[UpdateOut]

    @staticmethod
    def resolve_fields(incident: Incident) -> dict:
        return typefields.api_values(incident.type, incident.custom_fields)

    @staticmethod
    def resolve_updates(incident: Incident) -> list:
        return list(incident.updates.all())


class RoleOut(Schema):
    """One response role of an incident and who holds it."""

    role: str = Field(description="The role's slug (commander, communications, scribe, or one a manager added).")
    name: str
    holder: str | None = Field(description="Username of the person holding it; null when nobody does.")
    assigned_at: datetime | None


class TaskOut(Schema):
    """One task of an incident's response (from its type's checklist, or added on the incident)."""

    id: int
    title: str
    required: bool = Field(description="The incident cannot be resolved while this task is open.")
    done: bool
    done_at: datetime | None
    done_by: str | None = Field(description="Username of who ticked it.")
    assignee: str | None = Field(description="Username of the person it is given to.")

    @staticmethod
    def resolve_done_by(task) -> str | None:
        return task.done_by.get_username() if task.done_by else None

    @staticmethod
    def resolve_assignee(task) -> str | None:
        return task.assignee.get_username() if task.assignee else None


class Page(Schema):
    count: int = Field(description="How many incidents match the filters.")
    limit: int
    offset: int
    next: str | None = Field(description="The next page's URL, or null on the last page.")
    previous: str | None
    items: list[IncidentSummary]


class Error(Schema):
    detail: str


class FieldError(Schema):
    field: str = Field(description="The field at fault; nested fields are joined with dots, e.g. `severity.1`.")
    message: str


class ValidationErrors(Schema):
    detail: list[FieldError]


# --- writing ---------------------------------------------------------------------------


class IncidentIn(Input):
    """A new incident: the same fields, and the same checks, as the report form."""

    title: limited(TITLE_MAX) = Field(
        json_schema_extra={"minLength": 1, "maxLength": TITLE_MAX, "pattern": TITLE_PATTERN},
        description="A short summary: one line of visible text (no line breaks, control characters "
        "or text-direction overrides); surrounding whitespace is removed.",
    )
    description: limited(DESCRIPTION_MAX) = required_text(
        DESCRIPTION_MAX, description="What is happening? What have you seen?"
    )
    impact: limited(IMPACT_MAX) = required_text(IMPACT_MAX, description="Who is affected and how? How many users?")
    service: Text = Field(
        json_schema_extra={"minLength": 1, "pattern": VISIBLE_TEXT},
        description="The affected service's slug.",
        examples=["checkout"],
    )
    type: Text | None = Field(
        None,
        description="The incident type's slug: downtime (the default), performance, security, or one a manager "
        "added. A security incident is restricted (need-to-know).",
        examples=["downtime"],
    )
    severity: Severity | None = Field(
        None,
        description="critical: major user impact, immediate attention; high: significant impact, a "
        "workaround may exist; medium: moderate impact, can be scheduled; low: minimal impact. "
        "Defaults to the type's default severity, where it has one.",
    )
    restricted: StrictBool = Field(
        False, description="Need-to-know from the start (types restricted by default always are)."
    )
    occurred_at: Moment | None = Field(
        None,
        description="When users were first affected (ISO 8601). With a UTC offset it is taken as given; "
        "without one it is read in Beacon's TIME_ZONE. Defaults to now. May not lie in the future, "
        "nor before 2000-01-01.",
    )
    logs: limited(LOGS_MAX) = Field(
        "",
        json_schema_extra={"maxLength": LOGS_MAX, "pattern": ANY_TEXT},
        description="Logs or error messages, kept as sent (surrounding whitespace removed).",
    )
    fields: dict[Text, Any] = Field(
        {},
        description="The type's custom fields, by name (the admin lists each type's fields): text as a string, "
        "a number as a number, a choice as one of its choices, a date as YYYY-MM-DD, a person as a Beacon "
        "username; null leaves a field unset. A required field must be given; an unknown name, a value of the "
        "wrong kind, an unknown choice, date or user is a 422 naming `fields.<name>`.",
        examples=[{"data_affected": "unknown", "customers_notified": "no"}],
    )


class UpdateIn(Input):
    """Checked further by the status update form (incidents.forms.StatusUpdateForm), as on the incident page."""

    message: limited(UPDATE_MAX) = required_text(
        UPDATE_MAX, description="Surrounding whitespace is removed; the limit counts every character sent."
    )
    public: StrictBool = Field(False, description="Public updates reach the status page and outside stakeholders.")


class ResolveIn(Input):
    """Checked further by the resolve form (incidents.forms.ResolveForm), as on the incident page."""

    summary: limited(RESOLUTION_MAX) = required_text(
        RESOLUTION_MAX, description="What fixed it, or what workaround is in place."
    )
    confirmed: StrictBool = Field(
        description="Must be true: the application works as expected and users are no longer affected."
    )


class RoleIn(Input):
    """Give a response role to a person, or to nobody."""

    role: Text = Field(description="The role's slug.", examples=["commander"])
    person: Text | None = Field(
        description="Username of the person to hold it (they must be allowed to see the incident); "
        "null: nobody holds it any more.",
        examples=["rob"],
    )
    expected: Text | None = Field(
        None,
        description="The holder you last saw (username, or an empty string for nobody). When given and "
        "someone changed the role since, the answer is 409 and nothing changes.",
    )


class TaskIn(Input):
    done: StrictBool = Field(description="true: tick the task; false: open it again.")


class IncidentFilters(Input):
    """The incident list's filters: the same as the web list's (incidents.filters.IncidentFilter)."""

    q: limited(SEARCH_MAX) | None = Field(
        None,
        json_schema_extra={"maxLength": SEARCH_MAX},
        description="Words in the title or description, or a reference.",
    )
    severity: list[Severity] = Field([], description="Repeat for several: ?severity=critical&severity=high")
    status: list[Status] = Field([], description="Repeat for several.")
    open: QueryBool | None = Field(None, description="true: only reported, acknowledged or mitigated incidents.")
    service: Text | None = Field(None, description="A service's slug.")
    team: Text | None = Field(
        None,
        description="A team's slug (GET /teams): incidents of its services. Without it, every team's: "
        'the API has no "my teams" default.',
    )
    type: Text | None = Field(None, description="An incident type's slug.")
    reporter: Text | None = Field(None, description="A reporter's username.")
    reported_after: Day | None = Field(None, description="Reported on or after this day (YYYY-MM-DD).")
    reported_before: Day | None = Field(None, description="Reported on or before this day (YYYY-MM-DD).")
    sort: Literal["newest", "oldest", "severity"] = "newest"
    limit: int = Field(25, ge=1, le=100, description="Incidents per page (at most 100).")
    # Upper bounds keep OFFSET within what the databases accept (a 64-bit integer).
    offset: int | None = Field(
        None, ge=0, le=10**9, description="Skip this many incidents. Use offset or page, not both: both is a 422."
    )
    page: int | None = Field(
        None,
        ge=1,
        le=10**7,
        description="Page number, counted from 1, of `limit` incidents. Use offset or page, not both: both is a 422.",
    )
