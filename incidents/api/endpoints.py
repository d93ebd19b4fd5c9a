"""The endpoints of /api/. Each states its permission once, in `auth=TokenAuth(…)`;
each change goes through incidents/workflow.py, as from the web pages."""

from datetime import UTC
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils import timezone
from ninja import NinjaAPI, Path, Query, Status

from incidents import idempotency, panels, typefields, workflow
from incidents.access import may_see
from incidents.api.auth import REPORT, RESPOND, VIEW, TokenAuth
from incidents.api.docs import VendoredSwagger
from incidents.api.errors import FieldErrors, form_errors, install, json_not_allowed, limit_body
from incidents.api.schemas import (
    Error,
    IncidentFilters,
    IncidentIn,
    IncidentOut,
    Page,
    RoleIn,
    RoleOut,
    TaskIn,
    TaskOut,
    UpdateIn,
    UpdateOut,
    ValidationErrors,
)
from incidents.filters import IncidentFilter
from incidents.forms import IncidentForm, StatusUpdateForm
from incidents.models import (
    DEFAULT_TYPE_SLUG,
    Incident,
    IncidentType,
    ResponseRole,
    RoleAssignment,
    StatusUpdate,
    Task,
)


class BeaconAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        # "create_incident" rather than ninja's "incidents_api_endpoints_create_incident":
        # client generators name their methods after it.
        return operation.view_func.__name__

    def _get_urls(self):
        # Every answer under /api/ is JSON, a wrong method's 405 too.
        urls = super()._get_urls()
        for url in urls:
            if isinstance(url, URLPattern):
                url.callback = json_not_allowed(url.callback)
        return urls


api = BeaconAPI(
    title="Beacon",
    version="1",
    description="Report, follow and update incidents from scripts and other tools. "
    "Authenticate with `Authorization: Bearer <token>`: a personal token from Your settings → API tokens, "
    "or an integration token from a manager.",
    urls_namespace="api",
    docs=VendoredSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install(api)
api.add_decorator(limit_body, mode="view")

# The answers every authenticated endpoint may give besides its own: 500 for a bug (JSON, nothing
# internal), 503 with Retry-After when the database cannot answer (incidents/api/errors.py).
ERRORS = {401: Error, 403: Error, 404: Error, 413: Error, 422: ValidationErrors, 500: Error, 503: Error}
# …and those that read a JSON body (400: not JSON).
BODY_ERRORS = {400: Error, **ERRORS}


def _incidents(request: HttpRequest):
    """The incidents the caller may see: a person's token sees what that person sees; an
    integration token (Beacon itself) no restricted incident (incidents/access.py)."""
    return Incident.objects.visible_to(request.auth.user).for_list()


def _full(request: HttpRequest, ref: str) -> Incident:
    """The incident named `ref` with everything IncidentOut shows, in two queries; else 404."""
    updates = StatusUpdate.objects.select_related("author").order_by("created_at", "pk")
    incident = _incidents(request).prefetch_related(Prefetch("updates", queryset=updates)).by_ref(ref).first()
    if incident is None:
        raise Http404(f"There is no incident {ref}.")
    return incident


def _get(request: HttpRequest, ref: str) -> Incident:
    incident = _incidents(request).by_ref(ref).first()
    if incident is None:
        raise Http404(f"There is no incident {ref}.")
    return incident


def type_slugs() -> str:
    return ", ".join(IncidentType.objects.order_by("position", "name").values_list("slug", flat=True))


def _restricted_receipt(incident: Incident) -> Incident:
    """What a caller who may not see a restricted incident it just reported gets back: the
    reference, type, severity and status, nothing it wrote."""
    receipt = Incident.objects.for_list().get(pk=incident.pk)
    for field in ("title", "description", "impact", "logs", "resolution_summary"):
        setattr(receipt, field, "")
    receipt.custom_fields = {}
    receipt._prefetched_objects_cache = {"updates": StatusUpdate.objects.none()}
    return receipt


def _location(request: HttpRequest, incident: Incident) -> str:
    return request.build_absolute_uri(reverse("api:incident", kwargs={"ref": incident.ref}))


# --- reading ---------------------------------------------------------------------------


@api.get("/incidents", auth=TokenAuth(VIEW), response={200: Page, **ERRORS}, url_name="incidents")
def list_incidents(request: HttpRequest, filters: Query[IncidentFilters]):
    """Incidents, newest first unless `sort` says otherwise, filtered as on the web list."""
    unknown = sorted(set(request.GET) - set(IncidentFilters.model_fields))
    if unknown:
        raise FieldErrors([(name, "Unknown query parameter.") for name in unknown])
    if filters.offset is not None and filters.page is not None:
        raise FieldErrors([("page", "Use offset or page, not both.")])
    # The web list's FilterSet does the filtering, so both lists always agree.
    data = {
        "q": filters.q or "",
        "severity": [s.value for s in filters.severity],
        "status": [s.value for s in filters.status],
        "service": filters.service or "",
        "team": filters.team or "",
        "type": filters.type or "",
        "reporter": filters.reporter or "",
        "reported_after": filters.reported_after,
        "reported_before": filters.reported_before,
        "sort": filters.sort,
    }
    if filters.open:
        data["open"] = True
    filterset = IncidentFilter(data, queryset=_incidents(request))
    if not filterset.is_valid():
        errors = form_errors(filterset.form)
        # "Select a valid choice" says little when the choice is a slug or a username.
        unknown = {
            "service": "There is no service with this slug.",
            "team": "There is no team with this slug; GET /api/teams lists them.",
            "reporter": "There is no user with this username.",
            "type": f"There is no incident type with this slug; the types are: {type_slugs()}.",
        }
        errors.errors = [(field, unknown.get(field, message)) for field, message in errors.errors]
        raise errors
    # The long texts are not listed (IncidentSummary); logs can be large.
    incidents = filterset.qs.defer("description", "impact", "logs", "resolution_summary")
    limit = filters.limit
    offset = filters.offset or ((filters.page - 1) * limit if filters.page else 0)
    count = incidents.count()
    items = list(incidents[offset : offset + limit]) if offset < count else []

    def link(to: int) -> str:
        query = request.GET.copy()
        query.pop("page", None)
        query["offset"], query["limit"] = str(to), str(limit)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

    return {
        "count": count,
        "limit": limit,
        "offset": offset,
        "next": link(offset + limit) if offset + limit < count else None,
        "previous": link(max(offset - limit, 0)) if offset > 0 else None,
        "items": items,
    }


@api.get("/incidents/{ref}", auth=TokenAuth(VIEW), response={200: IncidentOut, **ERRORS}, url_name="incident")
def get_incident(request: HttpRequest, ref: str):
    """One incident by its reference (`INC-42`; `42` works too), with its status updates."""
    return _full(request, ref)


# --- writing ---------------------------------------------------------------------------


# The header create_incident reads itself (so a bad key is a 422 naming it), documented here.
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes retries safe: 8 to 100 letters, digits or - _ . : (a UUID is fine).",
    "schema": {"type": "string", "pattern": idempotency.TOKEN_RE.pattern},
}


@api.post(
    "/incidents",
    auth=TokenAuth(REPORT),
    response={201: IncidentOut, **BODY_ERRORS},
    url_name="incident_create",
    openapi_extra={"parameters": [IDEMPOTENCY_HEADER]},
)
def create_incident(request: HttpRequest, response: HttpResponse, payload: IncidentIn):
    """Report an incident, as the report form does; 201 with a Location header.

    It is assigned and announced like a web report. The reporter is the token's user,
    or nobody (Beacon itself) for an integration token; the source is `api`.

    Send an `Idempotency-Key` header (a UUID, say) to make retries safe: a repeat with the
    same key and body answers 201 with the first incident (and `Idempotent-Replayed: true`)
    instead of reporting it again; the same key with a different body is refused (422).
    Keys are kept for a day.
    """
    occurred_at = payload.occurred_at or timezone.now()
    if timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, ZoneInfo(settings.TIME_ZONE))
    try:
        occurred_at = occurred_at.astimezone(UTC)
    except OverflowError:
        raise FieldErrors([("occurred_at", "This date lies outside the range Beacon can store.")]) from None
    incident_type = IncidentType.objects.filter(slug=payload.type or DEFAULT_TYPE_SLUG).first()
    if incident_type is None:
        raise FieldErrors([("type", f"There is no incident type “{payload.type}”; the types are: {type_slugs()}.")])
    severity = payload.severity.value if payload.severity else incident_type.default_severity
    if not severity:
        raise FieldErrors(
            [("severity", f"This field is required. The type “{incident_type.slug}” has no default severity.")]
        )
    # The report form's own validation, so the two never drift apart; the API names services by slug.
    form = IncidentForm(
        data={
            "type": incident_type.slug,
            "title": payload.title,
            "description": payload.description,
            "impact": payload.impact,
            "logs": payload.logs,
            "occurred_at": occurred_at,
            "severity": severity,
            "service": payload.service,
            "restricted": payload.restricted,
        }
    )
    form.fields["service"].to_field_name = "slug"
    # Django %-formats error messages with the value: the client's text must not be a template.
    form.fields["service"].error_messages["invalid_choice"] = (
        f"There is no service with the slug “{payload.service}”.".replace("%", "%%")
    )
    # The type's custom fields, through the report page's own field form (incidents/typefields.py).
    custom_fields, field_problems = typefields.from_json(incident_type, payload.fields)
    if not form.is_valid() or field_problems:
        errors = form_errors(form).errors if form.errors else []
        raise FieldErrors(errors + [(f"fields.{name}", message) for name, message in field_problems])
    key = request.headers.get("Idempotency-Key", "")
    if key and not idempotency.TOKEN_RE.match(key):
        raise FieldErrors([("Idempotency-Key", "Use 8 to 100 letters, digits or - _ . : (a UUID is fine).")])
    caller = request.auth
    try:
        with workflow.via(workflow.VIA_API):
            done = idempotency.once(
                owner=f"user:{caller.user.pk}" if caller.user is not None else f"integration:{caller.integration.pk}",
                scope="api:report",
                key=key,
                create=lambda: workflow.report(
                    by=caller.by, source=Incident.Source.API, custom_fields=custom_fields, **form.cleaned_data
                ),
                url_of=lambda incident: incident.get_absolute_url(),
                ref_of=lambda incident: incident.ref,
                request_fingerprint=idempotency.fingerprint(payload.dict()),
            )
    except idempotency.KeyReused:
        raise FieldErrors(
            [
                (
                    "Idempotency-Key",
                    "This key was already used for a different request: use a new key for a new incident.",
                )
            ]
        ) from None
    incident = Incident.objects.by_ref(done.ref).get()
    response["Location"] = _location(request, incident)
    if done.replayed:
        response["Idempotent-Replayed"] = "true"
    if not may_see(caller.user, incident):
        # An integration reported a restricted incident (a security type): it may not read it back.
        return Status(201, _restricted_receipt(incident))
    return Status(201, _full(request, incident.ref))


@api.post(
    "/incidents/{ref}/updates",
    auth=TokenAuth(RESPOND),
    response={201: UpdateOut, 409: Error, **BODY_ERRORS},
    url_name="updates",
)
def post_update(request: HttpRequest, ref: str, payload: UpdateIn):
    """Post a status update: public (status page, outside stakeholders) or internal (the team)."""
    incident = _get(request, ref)
    # The status update form's own validation, as on the incident page.
    form = StatusUpdateForm(data={"message": payload.message, "public": payload.public})
    if not form.is_valid():
        raise form_errors(form)
    with workflow.via(workflow.VIA_API):
        update = workflow.post_update(
            incident, by=request.auth.by, message=form.cleaned_data["message"], public=form.cleaned_data["public"]
        )
    return Status(201, StatusUpdate.objects.select_related("author").get(pk=update.pk))


# --- response roles and tasks ----------------------------------------------------------


def _roles(incident: Incident) -> list[dict]:
    """Every role Beacon defines, with who holds it on `incident` (2 queries)."""
    held = {a.role_id: a for a in RoleAssignment.objects.filter(incident=incident).select_related("user")}
    answer = []
    for role in ResponseRole.objects.all():
        assignment = held.get(role.pk)
        answer.append(
            {
                "role": role.slug,
                "name": role.name,
                "holder": assignment.user.get_username() if assignment else None,
                "assigned_at": assignment.assigned_at if assignment else None,
            }
        )
    return answer


def _person(username: str):
    return get_user_model().objects.filter(username__iexact=username.strip(), is_active=True).first()


@api.get("/incidents/{ref}/roles", auth=TokenAuth(VIEW), response={200: list[RoleOut], **ERRORS}, url_name="roles")
def list_roles(request: HttpRequest, ref: str):
    """The incident's response roles (every role, `holder` null where nobody holds it)."""
    return _roles(_get(request, ref))


@api.post(
    "/incidents/{ref}/roles",
    auth=TokenAuth(RESPOND, integrations=False),
    response={200: list[RoleOut], 409: Error, **BODY_ERRORS},
    url_name="role_assign",
)
def assign_role(request: HttpRequest, ref: str, payload: RoleIn):
    """Give a role to a person (`person: null`: to nobody); they are told. A restricted incident's
    role goes only to someone allowed to see it (else 409). Answers the incident's roles."""
    incident = _get(request, ref)
    errors = []
    role = ResponseRole.objects.filter(slug=payload.role).first()
    if role is None:
        slugs = ", ".join(ResponseRole.objects.values_list("slug", flat=True))
        errors.append(("role", f"There is no role “{payload.role}”; the roles are: {slugs}."))
    person = None
    if payload.person is not None:
        person = _person(payload.person)
        if person is None:
            errors.append(("person", f"There is nobody with the username “{payload.person}”."))
    expected = workflow.ANY
    if payload.expected is not None:
        seen = _person(payload.expected) if payload.expected.strip() else None
        if payload.expected.strip() and seen is None:
            errors.append(("expected", f"There is nobody with the username “{payload.expected}”."))
        expected = seen.pk if seen else None
    if errors:
        raise FieldErrors(errors)
    with workflow.via(workflow.VIA_API):
        workflow.assign_role(incident, by=request.auth.by, role=role, user=person, expected=expected)
    return _roles(incident)


@api.get("/incidents/{ref}/tasks", auth=TokenAuth(VIEW), response={200: list[TaskOut], **ERRORS}, url_name="tasks")
def list_tasks(request: HttpRequest, ref: str):
    """The incident's tasks, in order: its type's checklist, then tasks added on the incident."""
    incident = _get(request, ref)
    return list(incident.tasks.select_related("assignee", "done_by").order_by("position", "pk"))


@api.post(
    "/incidents/{ref}/tasks/{task_id}",
    auth=TokenAuth(RESPOND, integrations=False),
    response={200: TaskOut, 409: Error, **BODY_ERRORS},
    url_name="task",
)
def tick_task(request: HttpRequest, ref: str, payload: TaskIn, task_id: int = Path(..., ge=1, le=2**63 - 1)):
    """Tick a task (`done: true`) or open it again (`done: false`). Ticking a ticked task is a 409
    naming who ticked it (two people at once: the second is told)."""
    incident = _get(request, ref)
    task = Task.objects.filter(pk=task_id, incident=incident).first()
    if task is None:
        raise Http404(f"{incident.ref} has no task {task_id}.")
    with workflow.via(workflow.VIA_API):
        workflow.tick_task(incident, by=request.auth.by, task=task, done=payload.done)
    return Task.objects.select_related("assignee", "done_by").get(pk=task.pk)


# --- the rest, one router per subject (docs/api.md) --------------------------------------
# Registered here, last, so that whoever imports `api` gets every operation; the routers never
# import this module (no cycle).
from incidents.api import actions, catalog, common, policies, timeline  # noqa: E402

common.install_conflicts(api)
api.add_router("", actions.router)
actions.register_on_default_router(api)
api.add_router("", timeline.router)
timeline.register_on_default_router(api)
api.add_router("", catalog.router)
api.add_router("", policies.router)
# Routers of parts the API may not import (reviews), registered with the core (incidents/panels.py).
for build in panels.api_routes():
    api.add_router("", build(common.KIT))
