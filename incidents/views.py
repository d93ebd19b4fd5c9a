from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, Q
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timezone import now
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from incidents import (
    budget,
    choices,
    idempotency,
    links,
    outage,
    panels,
    response_views,
    roles,
    teams,
    textmatch,
    typefields,
    update_templates,
    user_reports,
    workflow,
)
from incidents.access import get_incident_for, role_required
from incidents.filters import IncidentFilter
from incidents.formrender import BlankForm
from incidents.forms import (
    DuplicateForm,
    EditIncidentForm,
    ImpactForm,
    IncidentForm,
    LeadForm,
    LiftRestrictionForm,
    LinkForm,
    MitigateForm,
    NoteForm,
    ParticipantForm,
    ProfileForm,
    ReactivateForm,
    ReopenForm,
    ResolveForm,
    RestrictForm,
    SeverityForm,
    StatusUpdateForm,
    UndoDuplicateForm,
)
from incidents.maintenance import views as maintenance_views
from incidents.middleware import sessionless
from incidents.models import (
    Incident,
    IncidentLink,
    IncidentType,
    Notification,
    Profile,
    RoleAssignment,
    Service,
    Severity,
    Status,
    StatusUpdate,
    Subscription,
    Task,
    TimelineEntry,
    UpdateTemplate,
)
from incidents.notifications import health
from incidents.notifications.reminders import last_public_update_at
from incidents.notifications.views import settings_context
from incidents.oncall import paging
from incidents.oncall.views import profile_context
from incidents.pagination import paginate
from incidents.reports import queries as report_queries

VIEW = roles.VIEW_INCIDENT
RESPOND = roles.RESPOND_INCIDENT
FOLLOW = roles.FOLLOW_INCIDENT
RECENT_UPDATES = 5

# Open incidents shown on the dashboard before "and N more" (a page must stay bounded).
DASHBOARD_LIMIT = 100
# The user's own open incidents listed beside them.
MINE_LIMIT = 20


# --- dashboard -------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The on-call engineer's page. Its board refreshes itself (htmx) every 15 seconds."""
    if not request.user.has_perm(VIEW):
        return render(request, "no_role.html")
    # "My teams" first, everything one click away (incidents/teams.py): a default, never access.
    scope = teams.scope(request)
    visible = scope.apply(Incident.objects.visible_to(request.user))
    types = choices.incident_types()  # (slug, name), cached
    chosen_type = request.GET.get("type")
    if chosen_type not in dict(types):
        chosen_type = None
    if chosen_type is not None:
        visible = visible.filter(type__slug=chosen_type)
    open_incidents = visible.open().for_rows()
    rows = list(open_incidents.order_by("severity_rank", "reported_at", "pk")[: DASHBOARD_LIMIT + 1])
    if len(rows) <= DASHBOARD_LIMIT:
        # Every open incident is in hand (the usual case): count them and pick the user's own
        # here instead of asking the database three more times.
        counts = {
            "total": len(rows),
            "unacknowledged": sum(1 for i in rows if i.status == Status.REPORTED),
            **{s.value: sum(1 for i in rows if i.severity == s) for s in Severity},
        }
        mine = [i for i in rows if i.lead_id == request.user.pk][:MINE_LIMIT]
        my_roles = response_views.my_roles(request.user, visible, open_rows=rows)
    else:
        rows = rows[:DASHBOARD_LIMIT]
        counts = open_incidents.aggregate(
            total=Count("pk"),
            unacknowledged=Count("pk", filter=Q(status=Status.REPORTED)),
            **{s.value: Count("pk", filter=Q(severity=s)) for s in Severity},
        )
        mine = list(
            open_incidents.filter(lead=request.user).order_by("severity_rank", "reported_at", "pk")[:MINE_LIMIT]
        )
        my_roles = response_views.my_roles(request.user, visible)
    context = {
        "incidents": rows,
        "counts": counts,
        "severity_counts": [(s, counts[s.value]) for s in Severity],
        "mine": mine,
        "my_roles": my_roles,
        # A reference, a title and a time each: no service, type or lead joined and built.
        "recently_resolved": list(
            visible.filter(resolved_at__gte=now() - timedelta(hours=24), status__in=[Status.RESOLVED, Status.CLOSED])
            .only("title", "resolved_at")
            .order_by("-resolved_at")[:20]
        ),
        "may_respond": request.user.has_perm(RESPOND),
        "on_call_board": paging.service_board(),
        # Windows and silences in force; rows of services in maintenance say so (incidents/maintenance/).
        **maintenance_views.dashboard_context(),
        "now": now(),
        "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
        "dashboard_url": reverse("dashboard"),  # each row's forms come back here
        "types": types,
        "chosen_type": chosen_type,
        **teams.scope_context(request, scope),
    }
    if context["may_respond"]:
        # Users' reports from the status page, waiting for a responder (incidents/user_reports.py).
        context["user_reports"] = user_reports.waiting()
        context["burst_minutes"] = user_reports.BURST_MINUTES
    if request.user.has_perm(roles.VIEW_NOTIFICATION):
        # Managers see deliveries that gave up (permanent errors, retries exhausted) at once.
        context["failed_deliveries"] = Notification.objects.filter(state=Notification.State.FAILED).count()
        # ...and channels that cannot deliver at all (a Slack webhook gone, SMTP sign-in refused).
        context.update(health.banner_context(request.user))
    template = "incidents/dashboard.html#board" if request.htmx else "incidents/dashboard.html"
    return render(request, template, context)


# --- list, report, detail, edit --------------------------------------------------------


@role_required(VIEW)
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    scope = teams.scope(request)
    incidents = IncidentFilter(
        request.GET, queryset=scope.apply(Incident.objects.visible_to(request.user)).for_rows(), request=request
    )
    context = {
        "filter": incidents,
        **paginate(request, incidents.qs, settings.INCIDENTS_PER_PAGE),
        **teams.scope_context(request, scope),
    }
    return render(request, "incidents/list.html", context)


def _posted_type(request: HttpRequest, fallback: IncidentType | None = None) -> IncidentType | None:
    slug = request.POST.get("type", "")
    return IncidentType.objects.filter(slug=slug).first() if slug else fallback


def _swap_type_fields(request: HttpRequest, form) -> None:
    """With JavaScript, choosing another type swaps in its fields (htmx); without, the form is
    posted and the page comes back with them (`_fields_moved`)."""
    form.fields["type"].widget.attrs.update(
        {
            "hx-get": reverse("incidents:report"),
            "hx-target": "#type-fields",
            "hx-swap": "outerHTML",
            "hx-trigger": "change",
        }
    )


def _fields_moved(request: HttpRequest, chosen: IncidentType | None, fields_form) -> bool:
    """The type was changed on the full form: the fields shown were another type's. The page
    comes back with the chosen type's fields to fill in, rather than errors about fields the
    reporter never saw."""
    return (
        chosen is not None
        and request.POST.get("fields_for", chosen.slug) != chosen.slug
        and bool(fields_form.definitions)
    )


@role_required(roles.ADD_INCIDENT)
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    """The type first (a plain GET form, so it works without JavaScript), then the report with the
    type's policy filled in and its custom fields (incidents/typefields.py) asked for."""
    if request.method == "GET":
        slug = request.GET.get("type", "")
        chosen = IncidentType.objects.filter(slug=slug).first() if slug else None
        if chosen is None:
            context = {"types": IncidentType.objects.order_by("position", "name"), "unknown_type": slug[:100]}
            return render(request, "incidents/report.html", context, status=404 if slug else 200)
        fields_form = typefields.CustomFieldsForm(incident_type=chosen)
        if request.htmx and request.htmx.target == "type-fields":
            return render(request, "incidents/report.html#type-fields", {"fields_form": fields_form})
        form = IncidentForm(initial={"type": chosen})
        _swap_type_fields(request, form)
        context = {"form": form, "fields_form": fields_form, "matches": textmatch.open_matches(request.user, "", None)}
        return render(request, "incidents/report.html", context)
    form = IncidentForm(request.POST)
    _swap_type_fields(request, form)
    chosen = _posted_type(request)
    fields_form = typefields.CustomFieldsForm(request.POST, incident_type=chosen)
    if _fields_moved(request, chosen, fields_form):
        form.is_valid()  # its own errors shown beside the new fields
        fields_form = typefields.CustomFieldsForm(incident_type=chosen)
        messages.info(request, f"Now a {chosen}: fill in its fields below, then report it.")
        return render(request, "incidents/report.html", {"form": form, "fields_form": fields_form}, status=422)
    if form.is_valid() & fields_form.is_valid():
        done = idempotency.once(
            owner=f"user:{request.user.pk}",
            scope="report",
            key=form.idempotency_token,
            create=lambda: workflow.report(by=request.user, custom_fields=fields_form.values(), **form.cleaned_data),
            url_of=lambda incident: incident.get_absolute_url(),
            ref_of=lambda incident: incident.ref,
        )
        if done.replayed:
            messages.info(request, f"This report was sent already: it is {done.ref}.")
        elif form.cleaned_data.get("restricted") or form.cleaned_data["type"].restricted_by_default:
            messages.success(
                request,
                f"{done.ref} reported. It is restricted: only its participants, "
                "the Security group and managers see it.",
            )
        else:
            messages.success(request, f"{done.ref} reported. Thank you — responders can see it now.")
        return redirect(done.url)
    matches = textmatch.open_matches(request.user, request.POST.get("title", "")[:200], _service_id(request.POST))
    context = {"form": form, "fields_form": fields_form, "matches": matches}
    return render(request, "incidents/report.html", context, status=422)


def _service_id(data) -> int | None:
    value = data.get("service", "")
    return int(value) if value.isdigit() and len(value) < 12 else None


@role_required(roles.ADD_INCIDENT)
@require_GET
def report_matches(request: HttpRequest) -> HttpResponse:
    """Open incidents like the one being reported (?title=…&service=ID), for the report form:
    "Is it one of these? Follow it instead". Loaded by htmx as the reporter types."""
    title = request.GET.get("title", "")[:200]
    matches = textmatch.open_matches(request.user, title, _service_id(request.GET))
    return render(request, "incidents/_report_matches.html", {"matches": matches, "typed": bool(title.strip())})


# The incident page holds several forms whose fields share names (text, reason): each form's
# ids get its own prefix, so every id on the page is unique and each label names its own field.
# The field names, and so what the views read, stay as they are.
FORM_IDS = {
    "note_form": "note_%s",
    "resolve_form": "resolve_%s",
    "reopen_form": "reopen_%s",
    "reactivate_form": "reactivate_%s",
    "mitigate_form": "mitigate_%s",
    "severity_form": "severity_%s",
    "lead_form": "lead_%s",
    "restrict_form": "restrict_%s",
    "lift_form": "lift_%s",
    "participant_form": "participant_%s",
    "impact_form": "impact_%s",
}

# The newest entries shown open on the incident page; older ones fold into a <details>.
TIMELINE_RECENT = 10


def _detail_context(request: HttpRequest, incident: Incident, **forms) -> dict:
    user = request.user
    may_respond = user.has_perm(RESPOND)
    ids = FORM_IDS
    context = {
        "incident": incident,
        **timeline_context(request, incident),
        "may_edit": workflow.may_edit(user, incident),
        "may_note": workflow.may_add_note(user, incident),
        "may_respond": may_respond,
        "may_close": user.has_perm(roles.CLOSE_INCIDENT),
        # Blank forms drawn from HTML kept per process (formrender.BlankForm); a posted form with
        # its errors is the form itself.
        "note_form": forms.get("note_form") or BlankForm(NoteForm, auto_id=ids["note_form"]),
        "resolve_form": forms.get("resolve_form") or BlankForm(ResolveForm, auto_id=ids["resolve_form"]),
        "reopen_form": forms.get("reopen_form") or BlankForm(ReopenForm, auto_id=ids["reopen_form"]),
        "reactivate_form": forms.get("reactivate_form") or BlankForm(ReactivateForm, auto_id=ids["reactivate_form"]),
        "mitigate_form": forms.get("mitigate_form") or BlankForm(MitigateForm, auto_id=ids["mitigate_form"]),
        "impact_form": forms.get("impact_form") or BlankForm(ImpactForm, auto_id=ids["impact_form"]),
        "severity_form": forms.get("severity_form")
        or BlankForm(SeverityForm, initial={"severity": incident.severity}, auto_id=ids["severity_form"]),
    }
    context["custom_fields"] = typefields.display(
        incident.type, incident.custom_fields, choices.custom_fields(incident.type_id)
    )
    context["budget_burn"] = budget.incident_burn(incident, now())
    context["panels"] = panels.render_context(request, incident)
    context["access"] = access_panel_context(request, incident, **forms)
    context["response"] = response_views.response_context(request, incident)
    context.update(_duplicate_context(request, incident))
    if may_respond:
        context["lead_form"] = forms.get("lead_form") or BlankForm(
            LeadForm, initial={"lead": incident.lead_id}, auto_id=ids["lead_form"]
        )
    return context


# The incident page loads the newest TIMELINE_SHOWN entries, newest first (the page reads from
# the top on a phone): the newest TIMELINE_RECENT in view, the rest folded under "Older entries".
# "Show earlier entries" asks for TIMELINE_SHOWN more each time (?entries=N, at most TIMELINE_MAX):
# a long incident's page stays as fast as a short one's.
TIMELINE_SHOWN = 25
TIMELINE_MAX = 5000


def incident_entries(incident: Incident, shown: int = TIMELINE_SHOWN) -> tuple[list, bool]:
    """The newest `shown` entries, newest first, and whether older ones exist (one query)."""
    newest = list(incident.timeline.select_related("author").order_by("-created_at", "-pk")[: shown + 1])
    return newest[:shown], len(newest) > shown


def timeline_context(request: HttpRequest, incident: Incident) -> dict:
    try:
        shown = int(request.GET.get("entries", TIMELINE_SHOWN))
    except ValueError:
        shown = TIMELINE_SHOWN
    shown = min(max(shown, TIMELINE_SHOWN), TIMELINE_MAX)
    entries, more = incident_entries(incident, shown)
    return {
        "recent_entries": entries[:TIMELINE_RECENT],
        "older_entries": entries[TIMELINE_RECENT:],
        "entries_shown": shown,
        "earlier_entries": more and shown < TIMELINE_MAX,
        "more_entries": min(shown + TIMELINE_SHOWN, TIMELINE_MAX),
    }


def _page_incident(request: HttpRequest, ref: str) -> Incident:
    """The incident page's incident (`get_incident_for`), and whether it has links, duplicates,
    participants, tasks, role holders, pages and deliveries, and whether the user follows it or
    its service: most incidents have none of them, and the page asks for each only when there are
    some. Two queries: the incident, then every flag in one statement of EXISTS (`_page_flags`).
    Asked as annotations of the incident's own query they cost more than the rest of the page's
    SQL together (bench database: 5 ms of ORM work and 5 ms in PostgreSQL, most of it planning the
    joins and subqueries together), where this statement costs 0.1 ms of CPU and 0.3 ms in
    PostgreSQL."""
    incident = get_incident_for(
        request, ref, queryset=Incident.objects.for_list().select_related("resolution_confirmed_by")
    )
    params = {"incident": incident.pk, "user": request.user.pk, "service": incident.service_id}
    params.update((f"kind{n}", kind) for n, kind in enumerate(paging.PAGE_KINDS))
    flags = _page_flags()
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(expression for _, expression in flags), params)
        found = cursor.fetchone()
    for (name, _), value in zip(flags, found, strict=True):
        setattr(incident, name, bool(value))
    return incident


@lru_cache(maxsize=1)
def _page_flags() -> tuple[tuple[str, str], ...]:
    """(attribute, EXISTS(…)) for each flag `_page_incident` sets; tables and columns from the
    models, the values by name: %(incident)s, %(user)s, %(service)s, %(kindN)s."""
    q = connection.ops.quote_name

    def exists(model, condition: str, *fields: str) -> str:
        # `condition` with a {} for the column of each of `fields`, in order.
        columns = [q(model._meta.get_field(name).column) for name in fields]
        return f"EXISTS(SELECT 1 FROM {q(model._meta.db_table)} WHERE {condition.format(*columns)})"

    participants = Incident._meta.get_field("participants")
    kinds = ", ".join(f"%(kind{n})s" for n in range(len(paging.PAGE_KINDS)))
    incident = "{} = %(incident)s"
    return (
        ("has_links", exists(IncidentLink, "({} = %(incident)s OR {} = %(incident)s)", "from_incident", "to_incident")),
        ("has_duplicates", exists(Incident, incident, "duplicate_of")),
        (
            "has_participants",
            f"EXISTS(SELECT 1 FROM {q(participants.m2m_db_table())}"
            f" WHERE {q(participants.m2m_column_name())} = %(incident)s)",
        ),
        ("has_tasks", exists(Task, incident, "incident")),
        ("has_roles_held", exists(RoleAssignment, incident, "incident")),
        # The paging panel (incidents/oncall/policies.py) of an acknowledged incident nobody was paged about.
        ("has_pages", exists(TimelineEntry, f"{incident} AND {{}} IN ({kinds})", "incident", "kind")),
        # The delivery ledger panel (incidents/notifications/views.py) of an incident nobody was told of.
        ("has_notifications", exists(Notification, incident, "incident")),
        # The updates panel's Follow buttons.
        ("follows_incident", exists(Subscription, f"{{}} = %(user)s AND {incident}", "user", "incident")),
        (
            "follows_service",
            exists(Subscription, "{} = %(user)s AND {} = %(service)s AND {} IS NULL", "user", "service", "incident"),
        ),
    )


@role_required(VIEW)
@require_GET
def detail(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _page_incident(request, ref)
    return render(request, "incidents/detail.html", _detail_context(request, incident))


@role_required(VIEW)
@require_GET
def timeline(request: HttpRequest, ref: str) -> HttpResponse:
    """The timeline alone, for htmx refreshes; the same partial the page renders."""
    incident = get_incident_for(request, ref)
    if not request.htmx:
        return redirect(incident)
    return render(
        request, "incidents/detail.html#timeline", {"incident": incident, **timeline_context(request, incident)}
    )


@role_required(VIEW)
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, ref: str) -> HttpResponse:
    """The report's fields and its type's custom fields, saved together under the version check."""
    incident = get_incident_for(request, ref)
    if not workflow.may_edit(request.user, incident):
        raise PermissionDenied
    form = EditIncidentForm(request.POST or None, instance=incident)
    _swap_type_fields(request, form)
    chosen = _posted_type(request, incident.type) if request.method == "POST" else incident.type
    fields_form = typefields.CustomFieldsForm(request.POST or None, incident_type=chosen, values=incident.custom_fields)
    context = {"form": form, "fields_form": fields_form, "incident": incident}
    if request.method == "POST" and _fields_moved(request, chosen, fields_form):
        form.is_valid()
        context["fields_form"] = typefields.CustomFieldsForm(incident_type=chosen, values=incident.custom_fields)
        messages.info(request, f"Now a {chosen}: fill in its fields below, then save.")
        return render(request, "incidents/edit.html", context, status=422)
    if request.method == "POST" and form.is_valid() & fields_form.is_valid():
        changes = {field: form.cleaned_data[field] for field in workflow.REPORT_FIELDS if field in form.cleaned_data}
        changes["custom_fields"] = fields_form.values()
        try:
            workflow.edit(incident, by=request.user, version=form.cleaned_data["version"], changes=changes)
        except workflow.Conflict as conflict:
            # Show the current values; what this user typed is kept beside them to copy from.
            fresh = Incident.objects.visible_to(request.user).for_list().get(pk=conflict.current.pk)
            messages.error(request, str(conflict))
            submitted = dict(form.cleaned_data)
            submitted.update({f.label: fields_form.cleaned_data.get(name) for name, f in fields_form.fields.items()})
            fresh_fields = typefields.CustomFieldsForm(incident_type=fresh.type, values=fresh.custom_fields)
            return render(
                request,
                "incidents/edit.html",
                {
                    "form": EditIncidentForm(instance=fresh),
                    "fields_form": fresh_fields,
                    "incident": fresh,
                    "submitted": submitted,
                },
                status=409,
            )
        messages.success(request, f"{incident.ref} updated.")
        return redirect(incident)
    status = 422 if form.is_bound else 200
    return render(request, "incidents/edit.html", context, status=status)


# --- workflow actions: every one a POST that ends in a redirect --------------------------


@role_required(RESPOND)
@require_POST
def impact(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        ImpactForm,
        "impact_form",
        lambda incident, data: workflow.adjust_impact(
            incident, by=request.user, started_at=data["started_at"], ended_at=data["ended_at"], reason=data["reason"]
        ),
        "The impact window of {ref} is changed.",
    )


def _back(request: HttpRequest, incident: Incident) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(incident)


def _act(request: HttpRequest, incident: Incident, action: Callable[[], object], done: str) -> HttpResponse:
    try:
        action()
    except workflow.InvalidTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, done)
    return _back(request, incident)


def _form_action(request, ref, form_class, form_name, action, done) -> HttpResponse:
    incident = _page_incident(request, ref)
    form = form_class(request.POST, auto_id=FORM_IDS[form_name])
    if not form.is_valid():
        context = _detail_context(request, incident, **{form_name: form})
        context["open_form"] = form_name
        return render(request, "incidents/detail.html", context, status=422)
    return _act(request, incident, lambda: action(incident, form.cleaned_data), done.format(ref=incident.ref))


@role_required(RESPOND)
@require_POST
def acknowledge(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    return _act(
        request, incident, lambda: workflow.acknowledge(incident, by=request.user), f"{incident.ref} acknowledged."
    )


@role_required(RESPOND)
@require_POST
def take(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    return _act(request, incident, lambda: workflow.take(incident, by=request.user), f"You lead {incident.ref} now.")


@role_required(RESPOND)
@require_POST
def mitigate(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        MitigateForm,
        "mitigate_form",
        lambda incident, data: workflow.mitigate(incident, by=request.user, text=data["text"]),
        "{ref} marked mitigated.",
    )


@role_required(RESPOND)
@require_POST
def resolve(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        ResolveForm,
        "resolve_form",
        lambda incident, data: workflow.resolve(
            incident, by=request.user, summary=data["summary"], confirmed=data["confirmed"]
        ),
        "{ref} resolved.",
    )


@role_required(RESPOND)
@require_POST
def reopen(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        ReopenForm,
        "reopen_form",
        lambda incident, data: workflow.reopen(incident, by=request.user, reason=data["reason"]),
        "{ref} reopened.",
    )


@role_required(RESPOND)
@require_POST
def reactivate(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        ReactivateForm,
        "reactivate_form",
        lambda incident, data: workflow.reactivate(incident, by=request.user, reason=data["reason"]),
        "{ref} is active again.",
    )


@role_required(roles.CLOSE_INCIDENT)
@require_POST
def close(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    return _act(request, incident, lambda: workflow.close(incident, by=request.user), f"{incident.ref} closed.")


@role_required(RESPOND)
@require_POST
def severity(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        SeverityForm,
        "severity_form",
        lambda incident, data: workflow.change_severity(
            incident, by=request.user, severity=data["severity"], reason=data["reason"]
        ),
        "Severity of {ref} changed.",
    )


@role_required(RESPOND)
@require_POST
def lead(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        LeadForm,
        "lead_form",
        lambda incident, data: workflow.set_lead(incident, by=request.user, lead=data["lead"]),
        "Lead of {ref} changed.",
    )


@role_required(VIEW)
@require_POST
def note(request: HttpRequest, ref: str) -> HttpResponse:
    """Add a note. With htmx the timeline and a fresh form come back; without, a redirect."""
    incident = _page_incident(request, ref)
    if not workflow.may_add_note(request.user, incident):
        raise PermissionDenied
    form = NoteForm(request.POST, auto_id=FORM_IDS["note_form"])
    if form.is_valid():
        # A double submit lands on the first note (incidents/idempotency.py).
        done = idempotency.once(
            owner=f"user:{request.user.pk}",
            scope="note",
            key=form.idempotency_token,
            create=lambda: workflow.add_note(incident, by=request.user, text=form.cleaned_data["text"]),
            url_of=lambda entry: incident.get_absolute_url(),
        )
        if not request.htmx:
            messages.success(request, "Note added." if not done.replayed else "This note was added already.")
            return redirect(reverse("incidents:detail", kwargs={"ref": incident.ref}) + "#timeline")
        form = NoteForm(auto_id=FORM_IDS["note_form"])
        status = 200
    else:
        # htmx swaps only 2xx answers: the form with its errors comes back as 200 there.
        status = 200 if request.htmx else 422
    context = _detail_context(request, incident, note_form=form)
    template = "incidents/detail.html#timeline-and-note" if request.htmx else "incidents/detail.html"
    return render(request, template, context, status=status)


# --- status updates and visibility (the updates panel of the incident page) -----------


class VisibilityForm(forms.Form):
    public = forms.TypedChoiceField(choices=[("1", "public"), ("0", "internal")], coerce=lambda v: v == "1")


def _last_public_update_at(incident: Incident, recent: list[StatusUpdate]):
    """When the last public update was posted, from the newest updates (newest first) when they
    tell: the first public one among them is the newest public of all, and when they are fewer
    than asked for they are all there are. Otherwise one query."""
    for update in recent:
        if update.public:
            return update.created_at
    if len(recent) < RECENT_UPDATES:
        return None
    return last_public_update_at(incident)


def updates_panel_context(request: HttpRequest, incident: Incident, form=None) -> dict:
    """Last public update, recent updates, post form (from a template with ?template=ID), the
    phases offered, visibility and follow state: 2 queries, 1 when the incident says what the user
    follows (the page's, _page_incident); 1 more when none of the newest updates is public, 1
    more for a chosen template."""
    user = request.user
    recent = list(
        StatusUpdate.objects.filter(incident=incident)
        .select_related("author")
        .order_by("-created_at", "-pk")[:RECENT_UPDATES]
    )
    may_post = user.has_perm(RESPOND) and incident.status != Incident.Status.CLOSED
    templates = update_templates.phases() if may_post else []
    template_error = ""
    chosen = request.GET.get("template", "").strip() if request.method == "GET" else ""
    if may_post and form is None and chosen:
        template = UpdateTemplate.objects.filter(pk=int(chosen)).first() if chosen.isdigit() else None
        if template is None:
            template_error = f"There is no update template “{chosen[:60]}”: pick one of the phases below."
        else:
            form = StatusUpdateForm(
                initial={
                    "message": update_templates.fill(template.message, incident),
                    "public": template.public,
                    "phase": template.name,
                }
            )
    follows = set()
    if user.has_perm(FOLLOW) and hasattr(incident, "follows_incident"):
        # The page's incident says already (_page_incident).
        follows = {name for name in ("incident", "service") if getattr(incident, f"follows_{name}")}
    elif user.has_perm(FOLLOW):
        follows = {
            "incident" if incident_id else "service"
            for incident_id, _ in Subscription.objects.filter(user=user)
            .filter(Q(incident=incident) | Q(service_id=incident.service_id))
            .values_list("incident_id", "service_id")
        }
    return {
        "incident": incident,
        "recent_updates": recent,
        "last_public_update_at": _last_public_update_at(incident, recent),
        "may_post": may_post,
        "templates": templates,
        "suggested_phase": update_templates.suggested(templates, recent),
        "template_error": template_error,
        "may_follow": user.has_perm(FOLLOW),
        "follows_incident": "incident" in follows,
        "follows_service": "service" in follows,
        "form": form or BlankForm(StatusUpdateForm),
    }


@role_required(RESPOND)
@require_POST
def post_update(request: HttpRequest, ref: str) -> HttpResponse:
    """Post a status update. With htmx the panel comes back; without, a redirect."""
    incident = get_incident_for(request, ref)
    form = StatusUpdateForm(request.POST)
    if form.is_valid():
        try:
            done = idempotency.once(
                owner=f"user:{request.user.pk}",
                scope="update",
                key=form.idempotency_token,
                create=lambda: workflow.post_update(
                    incident,
                    by=request.user,
                    message=form.cleaned_data["message"],
                    public=form.cleaned_data["public"],
                    phase=form.cleaned_data["phase"],
                ),
                url_of=lambda update: incident.get_absolute_url(),
            )
        except workflow.InvalidTransition as refusal:
            form.add_error(None, str(refusal))
        else:
            if not request.htmx:
                messages.success(request, "Update posted." if not done.replayed else "This update was posted already.")
                return redirect(incident)
            form = StatusUpdateForm()
    if not request.htmx:
        for error in form.errors.get("message", []) + form.errors.get("phase", []) + form.non_field_errors():
            messages.error(request, error)
        return redirect(incident)
    # htmx swaps only 2xx answers by default: the form with its errors comes back as 200.
    return render(request, "incidents/_updates_panel.html", {"panel": updates_panel_context(request, incident, form)})


@role_required(RESPOND)
@require_POST
def set_visibility(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    form = VisibilityForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose public or internal.")
        return redirect(incident)
    public = form.cleaned_data["public"]
    try:
        workflow.set_public(incident, by=request.user, public=public)
    except workflow.InvalidTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{incident.ref} is {'shown on' if public else 'hidden from'} the status page.")
    return redirect(incident)


# --- need-to-know: restricting, lifting, participants ----------------------------------


def access_panel_context(request: HttpRequest, incident: Incident, **forms) -> dict:
    """Who may see the incident, and the forms to change it. One query (the participants), none
    when the page's incident says it has none (_page_incident)."""
    user = request.user
    return {
        "participants": (
            list(incident.participants.order_by("first_name", "username"))
            if getattr(incident, "has_participants", True)
            else []
        ),
        "may_restrict": workflow.may_restrict(user, incident) and not incident.restricted,
        "may_lift": workflow.may_lift(user, incident) and incident.restricted,
        "may_add": workflow.may_restrict(user, incident) and incident.status != Status.CLOSED,
        "restrict_form": forms.get("restrict_form") or BlankForm(RestrictForm, auto_id=FORM_IDS["restrict_form"]),
        "lift_form": forms.get("lift_form") or BlankForm(LiftRestrictionForm, auto_id=FORM_IDS["lift_form"]),
        "participant_form": forms.get("participant_form")
        or BlankForm(ParticipantForm, auto_id=FORM_IDS["participant_form"]),
    }


@role_required(VIEW)
@require_POST
def restrict(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _page_incident(request, ref)
    if not workflow.may_restrict(request.user, incident):
        raise PermissionDenied
    return _form_action(
        request,
        ref,
        RestrictForm,
        "restrict_form",
        lambda incident, data: workflow.restrict(incident, by=request.user, reason=data["reason"]),
        "{ref} is restricted: only its participants, the Security group and managers see it.",
    )


@role_required(roles.VIEW_RESTRICTED)
@require_POST
def lift_restriction(request: HttpRequest, ref: str) -> HttpResponse:
    return _form_action(
        request,
        ref,
        LiftRestrictionForm,
        "lift_form",
        lambda incident, data: workflow.lift_restriction(incident, by=request.user, reason=data["reason"]),
        "{ref} is no longer restricted.",
    )


# --- incidents that belong together (the links panel of the incident page) ----------------


def links_panel_context(request: HttpRequest, incident: Incident) -> dict | None:
    """Related incidents and duplicates the person may see, and the forms to link another or
    close this one into another: a query for the links when there are any, one for the duplicates
    when there are any. Hidden for those who cannot link when there is nothing to show."""
    # The page's incident says whether it has any (_page_incident): most have neither, and then
    # neither is asked for.
    shown = links.visible_links(incident, request.user) if getattr(incident, "has_links", True) else []
    duplicates = []
    if getattr(incident, "has_duplicates", True):
        duplicates = list(
            Incident.objects.visible_to(request.user)
            .filter(duplicate_of=incident)
            .only("title", "status")
            .order_by("pk")[: links.SHOWN]
        )
    may_link = request.user.has_perm(RESPOND)
    if not shown and not duplicates and not may_link:
        return None
    return {
        "incident": incident,
        "links": shown,
        "duplicates": duplicates,
        "may_link": may_link,
        "may_mark_duplicate": may_link and not incident.duplicate_of_id and incident.status != Status.CLOSED,
        "form": BlankForm(LinkForm, auto_id="link_%s"),
        "duplicate_form": BlankForm(DuplicateForm, auto_id="duplicate_%s"),
    }


def _duplicate_context(request: HttpRequest, incident: Incident) -> dict:
    """For a duplicate's banner: its primary's reference when the person may see it (1 query,
    only for a duplicate), and the form to undo it."""
    if not incident.duplicate_of_id:
        return {}
    visible = Incident.objects.visible_to(request.user).filter(pk=incident.duplicate_of_id).exists()
    return {"primary_visible": visible, "undo_duplicate_form": BlankForm(UndoDuplicateForm, auto_id="undo_%s")}


def _with_other(request: HttpRequest, incident: Incident, form, field: str, act) -> HttpResponse:
    """`act(other)` with the incident the bound `form`'s `field` names, found among those the
    person may see (a restricted one they may not see is "no incident"); its answer on success,
    else back to the links panel with every problem said."""
    if form.is_valid():
        wanted = form.cleaned_data[field]
        other = Incident.objects.visible_to(request.user).by_ref(wanted).first()
        if other is None:
            form.add_error(field, f"There is no incident {wanted}.")
        else:
            try:
                return act(other)
            except workflow.InvalidTransition as refusal:
                form.add_error(None, str(refusal))
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
    return redirect(incident.get_absolute_url() + "#links-panel")


@role_required(RESPOND)
@require_POST
def mark_duplicate(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    form = DuplicateForm(request.POST)

    def close_into(primary: Incident) -> HttpResponse:
        workflow.mark_duplicate(incident, primary=primary, by=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"{incident.ref} is closed into {primary.ref}; its followers follow it now.")
        return redirect(primary)

    return _with_other(request, incident, form, "primary", close_into)


@role_required(RESPOND)
@require_POST
def undo_duplicate(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    form = UndoDuplicateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why it is not a duplicate after all.")
        return redirect(incident)
    try:
        workflow.undo_duplicate(incident, by=request.user, reason=form.cleaned_data["reason"])
    except workflow.InvalidTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{incident.ref} is its own incident again.")
    return redirect(incident)


@role_required(RESPOND)
@require_POST
def add_link(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    form = LinkForm(request.POST)

    def link_to(other: Incident) -> HttpResponse:
        found = workflow.link(incident, other=other, kind=form.cleaned_data["kind"], by=request.user)
        messages.success(request, f"{incident.ref}: {found.label_from(incident.pk).lower()} {other.ref}.")
        return redirect(incident.get_absolute_url() + "#links-panel")

    return _with_other(request, incident, form, "other", link_to)


@role_required(RESPOND)
@require_POST
def remove_link(request: HttpRequest, ref: str, link: int) -> HttpResponse:
    incident = get_incident_for(request, ref)
    try:
        workflow.unlink(incident, link_id=link, by=request.user)
    except workflow.InvalidTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "Link removed.")
    return redirect(incident.get_absolute_url() + "#links-panel")


@role_required(VIEW)
@require_POST
def participants(request: HttpRequest, ref: str) -> HttpResponse:
    """Add a person by name (or, with remove=1, take them off)."""
    incident = _page_incident(request, ref)
    if not workflow.may_restrict(request.user, incident):
        raise PermissionDenied

    def change(incident, data):
        action = workflow.remove_participant if data["remove"] else workflow.add_participant
        return action(incident, by=request.user, user=data["username"])

    return _form_action(request, ref, ParticipantForm, "participant_form", change, "Participants of {ref} changed.")


# --- the service page ------------------------------------------------------------------


@role_required(roles.VIEW_SERVICE)
@require_safe
def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    open_incidents = Incident.objects.visible_to(request.user).open().filter(service=service).select_related("lead")
    budget = None
    if service.availability_objective is not None:
        moment = now()
        month = report_queries.months(timezone.localdate(moment), timezone.get_current_timezone(), count=1)[0]
        budget = report_queries.budgets(request.user, month, moment, service).get(service.pk)
    context = {
        **health.banner_context(request.user, service),
        "service": service,
        "budget": budget,
        "on_call": paging.on_call_for_service(service),
        "open_count": open_incidents.count(),
        "open_incidents": list(open_incidents.order_by("severity_rank", "reported_at", "pk")[:20]),
    }
    return render(request, "oncall/service.html", context)


# --- the user's own settings and the health check --------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    # Not created by looking at the page: the first save creates it (one audit log entry, with
    # what was chosen).
    profile = Profile.objects.filter(user=request.user).first() or Profile(user=request.user)
    form = ProfileForm(
        request.POST or None,
        initial={
            "time_zone": profile.time_zone,
            "email_notifications": profile.email_notifications,
            "slack_member_id": profile.slack_member_id,
            "theme": profile.theme,
        },
    )
    if request.method == "POST" and form.is_valid():
        member = form.cleaned_data["slack_member_id"]
        # Slack buttons and /incident act as the account carrying the member id: one account each.
        if member and Profile.objects.filter(slack_member_id=member).exclude(user=request.user).exists():
            form.add_error("slack_member_id", "This Slack member ID is linked to another Beacon account.")
    if request.method == "POST" and form.is_valid():
        profile.time_zone = form.cleaned_data["time_zone"]
        profile.email_notifications = form.cleaned_data["email_notifications"]
        profile.slack_member_id = form.cleaned_data["slack_member_id"]
        profile.theme = form.cleaned_data["theme"] or profile.theme
        profile.save()
        messages.success(request, "Your settings are saved.")
        return redirect("profile")
    context = {"form": form, **settings_context(request.user), **profile_context(request, profile)}
    return render(request, "incidents/profile.html", context, status=422 if form.is_bound else 200)


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(choices=Profile.Theme.choices)


@login_required
@require_POST
def theme(request: HttpRequest) -> HttpResponse:
    """The colour-scheme buttons of the menu: a plain form, so it works without JavaScript."""
    form = ThemeForm(request.POST)
    if form.is_valid():
        Profile.objects.update_or_create(user=request.user, defaults={"theme": form.cleaned_data["theme"]})
    else:
        messages.error(request, "Choose Auto, Light or Dark.")
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("profile")


FAVICON = settings.BASE_DIR / "static" / "favicon.ico"


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for whatever the page links (static/favicon.ico)."""
    response = FileResponse(FAVICON.open("rb"), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@sessionless
@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Load balancers probe with GET or HEAD (the same answer; the server drops HEAD's body)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any database failure means "not healthy"
        response = JsonResponse({"status": "unavailable", "error": type(error).__name__}, status=503)
        response["Retry-After"] = str(outage.RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"status": "ok"})
