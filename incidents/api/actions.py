"""The incident page's workflow verbs as API operations: acknowledge, take, set the lead, change
the severity, mitigate, resolve, reopen, reactivate, close; and the edit page's change of the
report, its type and its custom fields.

Each one is the page's button: the same permission (in `auth=`), the same form validating the
input, the same incidents/workflow.py call. Each carries the `version` the caller last read; a
stale one is a 409 with the incident as it is now (common.act). These are a person's acts: an
integration token gets 403 (it may report, post status updates and add notes).
"""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Body, Field, NinjaAPI, Router

from incidents import roles, typefields, workflow
from incidents.api.auth import RESPOND, VIEW, TokenAuth
from incidents.api.common import (
    BODY_ERRORS,
    VERSION_MAX,
    ConflictOut,
    Version,
    act,
    full,
    incident_or_404,
)
from incidents.api.errors import FieldErrors, form_errors
from incidents.api.schemas import IncidentOut, Input, Moment, ResolveIn, Text, limited
from incidents.forms import (
    DESCRIPTION_MAX,
    IMPACT_MAX,
    LOGS_MAX,
    TITLE_MAX,
    EditIncidentForm,
    MitigateForm,
    ReactivateForm,
    ReopenForm,
    ResolveForm,
    SeverityForm,
)
from incidents.models import IncidentType, Severity
from incidents.people import responders

router = Router(tags=["workflow"])
# acknowledge takes no body from older clients: its body is optional.
NO_BODY = Body(None)

# What every verb answers: the incident as it is after the change.
ANSWERS = {200: IncidentOut, 409: ConflictOut, **BODY_ERRORS}


def _version(required: bool = True):
    description = "The incident's `version` as you last read it; if it changed since, 409 and nothing changes."
    if not required:
        return Field(None, ge=1, le=VERSION_MAX, description=description + " Optional here, for older clients.")
    return Field(ge=1, le=VERSION_MAX, description=description)


class VersionIn(Input):
    version: Version = _version()


class AcknowledgeIn(Input):
    version: Version | None = _version(required=False)


class ResolveActionIn(ResolveIn):
    version: Version | None = _version(required=False)


class LeadIn(Input):
    version: Version = _version()
    lead: Text | None = Field(
        description="Username of the responder to lead it; null: nobody leads it.", examples=["rob"]
    )


class SeverityIn(Input):
    version: Version = _version()
    severity: Severity
    reason: limited(2000) = Field("", json_schema_extra={"maxLength": 2000}, description="Why (shown on the timeline).")


class MitigateIn(Input):
    version: Version = _version()
    text: limited(20000) = Field("", json_schema_extra={"maxLength": 20000}, description="What was done (optional).")


class ReasonIn(Input):
    version: Version = _version()
    reason: limited(2000) = Field(json_schema_extra={"minLength": 1, "maxLength": 2000})


def _checked(form):
    """The cleaned data of the page's own form, else a 422 naming each field."""
    if not form.is_valid():
        raise form_errors(form)
    return form.cleaned_data


def _done(request: HttpRequest, ref: str, version: int | None, change) -> object:
    incident = incident_or_404(request, ref)
    act(request, incident, version, change)
    return full(request, incident.ref)


@router.post(
    "/incidents/{ref}/acknowledge",
    auth=TokenAuth(RESPOND, integrations=False),
    response=ANSWERS,
    url_name="acknowledge",
)
def acknowledge(request: HttpRequest, ref: str, payload: AcknowledgeIn = NO_BODY):
    """Acknowledge a reported incident; the caller becomes its lead when it has none."""
    version = payload.version if payload is not None else None
    return _done(request, ref, version, lambda incident: workflow.acknowledge(incident, by=request.auth.by))


@router.post("/incidents/{ref}/take", auth=TokenAuth(RESPOND, integrations=False), response=ANSWERS, url_name="take")
def take(request: HttpRequest, ref: str, payload: VersionIn):
    """“Take it”: the caller leads the incident from now on."""
    return _done(request, ref, payload.version, lambda incident: workflow.take(incident, by=request.auth.by))


@router.post("/incidents/{ref}/lead", auth=TokenAuth(RESPOND, integrations=False), response=ANSWERS, url_name="lead")
def set_lead(request: HttpRequest, ref: str, payload: LeadIn):
    """Make a responder the engineer in charge (`lead: null`: nobody)."""
    lead = None
    if payload.lead is not None:
        # The lead select's rule (incidents.forms.LeadForm): only someone who may lead.
        lead = responders().filter(username__iexact=payload.lead.strip()).first()
        if lead is None:
            raise FieldErrors([("lead", f"There is no responder with the username “{payload.lead}”.")])
    return _done(request, ref, payload.version, lambda i: workflow.set_lead(i, by=request.auth.by, lead=lead))


@router.post(
    "/incidents/{ref}/severity", auth=TokenAuth(RESPOND, integrations=False), response=ANSWERS, url_name="severity"
)
def change_severity(request: HttpRequest, ref: str, payload: SeverityIn):
    """Raise or lower the severity of an open incident, with an optional reason. Raising it pages
    as the page does (escalation)."""
    data = _checked(SeverityForm(data={"severity": payload.severity.value, "reason": payload.reason}))
    return _done(
        request,
        ref,
        payload.version,
        lambda i: workflow.change_severity(i, by=request.auth.by, severity=data["severity"], reason=data["reason"]),
    )


@router.post(
    "/incidents/{ref}/mitigate", auth=TokenAuth(RESPOND, integrations=False), response=ANSWERS, url_name="mitigate"
)
def mitigate(request: HttpRequest, ref: str, payload: MitigateIn):
    """Mark a reported or acknowledged incident mitigated: users are no longer hurt, the cause may remain."""
    data = _checked(MitigateForm(data={"text": payload.text}))
    return _done(request, ref, payload.version, lambda i: workflow.mitigate(i, by=request.auth.by, text=data["text"]))


@router.post(
    "/incidents/{ref}/resolve", auth=TokenAuth(RESPOND, integrations=False), response=ANSWERS, url_name="resolve"
)
def resolve(request: HttpRequest, ref: str, payload: ResolveActionIn):
    """Confirm an open incident resolved: a summary, and `confirmed: true` that users are fine again.
    Refused (409) while a required task is open, naming them."""
    data = _checked(ResolveForm(data={"summary": payload.summary, "confirmed": payload.confirmed}))
    return _done(request, ref, payload.version, lambda i: workflow.resolve(i, by=request.auth.by, **data))


@router.post(
    "/incidents/{ref}/reopen", auth=TokenAuth(RESPOND, integrations=False), response=ANSWERS, url_name="reopen"
)
def reopen(request: HttpRequest, ref: str, payload: ReasonIn):
    """Reopen a resolved incident (it becomes acknowledged), saying why; the resolution is cleared."""
    data = _checked(ReopenForm(data={"reason": payload.reason}))
    return _done(request, ref, payload.version, lambda i: workflow.reopen(i, by=request.auth.by, reason=data["reason"]))


@router.post(
    "/incidents/{ref}/reactivate",
    auth=TokenAuth(RESPOND, integrations=False),
    response=ANSWERS,
    url_name="reactivate",
)
def reactivate(request: HttpRequest, ref: str, payload: ReasonIn):
    """A mitigated incident is active again (the mitigation did not hold), saying what shows it."""
    data = _checked(ReactivateForm(data={"reason": payload.reason}))
    return _done(
        request, ref, payload.version, lambda i: workflow.reactivate(i, by=request.auth.by, reason=data["reason"])
    )


@router.post(
    "/incidents/{ref}/close",
    auth=TokenAuth(roles.CLOSE_INCIDENT, integrations=False),
    response=ANSWERS,
    url_name="close",
)
def close(request: HttpRequest, ref: str, payload: VersionIn):
    """Close a resolved incident (managers): nothing more to do on it. The review policy may refuse (409)."""
    return _done(request, ref, payload.version, lambda incident: workflow.close(incident, by=request.auth.by))


# --- the edit page ---------------------------------------------------------------------------


class EditIn(Input):
    """The fields to change; those left out stay as they are. Checked by the edit page's form."""

    version: Version = _version()
    title: limited(TITLE_MAX) | None = Field(None, json_schema_extra={"minLength": 1, "maxLength": TITLE_MAX})
    description: limited(DESCRIPTION_MAX) | None = Field(None, json_schema_extra={"maxLength": DESCRIPTION_MAX})
    impact: limited(IMPACT_MAX) | None = Field(None, json_schema_extra={"maxLength": IMPACT_MAX})
    logs: limited(LOGS_MAX) | None = Field(None, json_schema_extra={"maxLength": LOGS_MAX})
    occurred_at: Moment | None = Field(None, description="As in POST /incidents.")
    service: Text | None = Field(None, description="A service's slug.")
    type: Text | None = Field(
        None,
        description="An incident type's slug. Its custom fields apply from now on: the values of fields "
        "the new type has too are kept, the others dropped, and a required one must be given in `fields`.",
    )
    fields: dict[Text, Any] | None = Field(
        None, description="Custom fields to change, by name, as in POST /incidents; null as a value unsets one."
    )


def edit_incident(request: HttpRequest, ref: str, payload: EditIn):
    """Change the report, its type or its custom fields, as the edit page does: responders and
    managers always, a reporter their own report while it is reported. With the `version` read:
    if the incident changed since, 409 with it as it is now, and nothing changes."""
    incident = incident_or_404(request, ref)
    if not workflow.may_edit(request.auth.user, incident):
        raise PermissionDenied("Your role does not allow editing this incident.")
    given = payload.model_dump(exclude_unset=True)
    nulls = sorted(name for name, value in given.items() if value is None)
    if nulls:
        raise FieldErrors([(name, "Leave it out to keep it; it cannot be null.") for name in nulls])
    occurred_at = given.get("occurred_at", incident.occurred_at)
    if timezone_naive(occurred_at):
        occurred_at = occurred_at.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    try:
        occurred_at = occurred_at.astimezone(UTC)
    except OverflowError:
        raise FieldErrors([("occurred_at", "This date lies outside the range Beacon can store.")]) from None
    # The edit page's own form; the API names services by slug, as POST /incidents does.
    form = EditIncidentForm(
        data={
            "version": payload.version,
            "type": given.get("type", incident.type.slug),
            "title": given.get("title", incident.title),
            "description": given.get("description", incident.description),
            "impact": given.get("impact", incident.impact),
            "logs": given.get("logs", incident.logs),
            "occurred_at": occurred_at,
            "severity": incident.severity,  # changed with POST /incidents/{ref}/severity, which pages
            "service": given.get("service", incident.service.slug),
        },
        instance=incident,
    )
    form.fields["service"].to_field_name = "slug"
    # Django %-formats error messages: the client's text must not be a template ("100%").
    form.fields["service"].error_messages["invalid_choice"] = (
        f"There is no service with the slug “{payload.service}”.".replace("%", "%%")
    )
    new_type = IncidentType.objects.filter(slug=given.get("type", incident.type.slug)).first() or incident.type
    current = typefields.api_values(incident.type, incident.custom_fields)
    names = {d.name for d in typefields.definitions(new_type)}
    wanted = {name: value for name, value in current.items() if name in names}
    wanted.update(given.get("fields") or {})
    wanted = {name: value for name, value in wanted.items() if value is not None}
    custom_fields, problems = typefields.from_json(new_type, wanted)
    if not form.is_valid() or problems:
        errors = form_errors(form).errors if form.errors else []
        raise FieldErrors(errors + [(f"fields.{name}", message) for name, message in problems])
    changes = {name: form.cleaned_data[name] for name in workflow.REPORT_FIELDS if name in form.cleaned_data}
    changes["custom_fields"] = custom_fields
    with workflow.via(workflow.VIA_API):
        workflow.edit(incident, by=request.auth.by, version=payload.version, changes=changes)
    return full(request, incident.ref)


def timezone_naive(moment: datetime) -> bool:
    return moment.tzinfo is None or moment.utcoffset() is None


def register_on_default_router(api: NinjaAPI) -> None:
    """PATCH /incidents/{ref} shares its path with GET (endpoints.py), and Django routes a path to
    one router only: so it goes on the API's own router, beside the GET."""
    api.patch(
        "/incidents/{ref}",
        auth=TokenAuth(VIEW, integrations=False),
        response={200: IncidentOut, 409: ConflictOut, **BODY_ERRORS},
        tags=["workflow"],
    )(edit_incident)
