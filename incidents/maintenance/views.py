"""The maintenance page (/maintenance/): windows and silences in force or to come, the last ones
over, and the forms to make and cancel them. Everyone with a role reads it; managers schedule
windows, responders and managers silence alerts. Every action is a POST ending in a redirect."""

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.timezone import now
from django.views.decorators.http import require_POST, require_safe

from incidents import choices, roles
from incidents.access import get_incident_for, role_required
from incidents.maintenance import rules
from incidents.maintenance.forms import SilenceForm, WindowForm
from incidents.models import AlertGroup, MaintenanceWindow, Service, Silence

# Windows and silences over (or cancelled) listed under the current ones.
RECENT = 20


def windows():
    return MaintenanceWindow.objects.select_related("created_by", "cancelled_by").prefetch_related(
        Prefetch("services", queryset=Service.objects.order_by("name").only("name", "slug"))
    )


def silences():
    return Silence.objects.select_related("created_by", "cancelled_by").annotate(held=Count("silenced_alerts"))


def page_context(request: HttpRequest, *, window_form=None, silence_form=None) -> dict:
    """Six queries, however many windows and silences there are."""
    at = now()
    context = {
        "now": at,
        "windows": list(windows().current_or_upcoming(at).order_by("start", "pk")),
        "past_windows": list(
            windows().exclude(pk__in=MaintenanceWindow.objects.current_or_upcoming(at)).order_by("-end", "-pk")[:RECENT]
        ),
        "silences": list(silences().active(at).order_by("expires_at", "pk")),
        "past_silences": list(
            silences().exclude(pk__in=Silence.objects.active(at)).order_by("-expires_at", "-pk")[:RECENT]
        ),
        "may_window": request.user.has_perm(roles.ADD_MAINTENANCEWINDOW),
        "may_silence": request.user.has_perm(roles.ADD_SILENCE),
    }
    if context["may_window"]:
        context["window_form"] = window_form or WindowForm()
    if context["may_silence"]:
        context["silence_form"] = silence_form or SilenceForm()
    return context


@role_required(roles.VIEW_INCIDENT)
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "maintenance/index.html", page_context(request))


@role_required(roles.ADD_MAINTENANCEWINDOW)
@require_POST
def window_new(request: HttpRequest) -> HttpResponse:
    form = WindowForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            window = rules.schedule_window(
                by=request.user,
                services=list(data["services"]),
                start=data["start"],
                end=data["end"],
                description=data["description"],
            )
        except (ValidationError, rules.Refused) as error:
            form.add_error(None, "; ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, f"Maintenance #{window.pk} scheduled; the services' stakeholders are told.")
            return redirect(reverse("maintenance:index") + f"#window-{window.pk}")
    return render(request, "maintenance/index.html", page_context(request, window_form=form), status=422)


@role_required(roles.ADD_MAINTENANCEWINDOW)
@require_POST
def window_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_object_or_404(MaintenanceWindow, pk=pk)
    try:
        rules.cancel_window(window, by=request.user)
    except rules.Refused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Maintenance #{window.pk} cancelled.")
    return redirect("maintenance:index")


@role_required(roles.ADD_SILENCE)
@require_POST
def silence_new(request: HttpRequest) -> HttpResponse:
    form = SilenceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            silence = rules.create_silence(
                by=request.user,
                matchers=data["matchers"],
                expires_at=now() + dt.timedelta(hours=data["hours"]),
                comment=data["comment"],
            )
        except ValidationError as error:
            form.add_error(None, "; ".join(error.messages))
        else:
            messages.success(request, f"Silence #{silence.pk} in force until it expires.")
            return redirect(reverse("maintenance:index") + f"#silence-{silence.pk}")
    return render(request, "maintenance/index.html", page_context(request, silence_form=form), status=422)


@role_required(roles.ADD_SILENCE)
@require_POST
def silence_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    silence = get_object_or_404(Silence, pk=pk)
    try:
        rules.cancel_silence(silence, by=request.user)
    except rules.Refused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Silence #{silence.pk} lifted.")
    return redirect("maintenance:index")


@role_required(roles.ADD_SILENCE)
@require_POST
def silence_group(request: HttpRequest, ref: str) -> HttpResponse:
    """ "Silence this alert for 2 h" on the alert group panel of an incident the user may see."""
    incident = get_incident_for(request, ref)
    group = AlertGroup.objects.filter(incident=incident).first()
    if group is None:
        messages.error(request, f"{incident.ref} has no alert group to silence.")
    else:
        try:
            silence = rules.quick_silence(group, by=request.user)
        except (rules.Refused, ValidationError) as error:
            messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, f"Silenced for 2 hours: {silence.text} (silence #{silence.pk}).")
    return redirect(incident.get_absolute_url() + "#alert-group")


CACHE_NAME = "maintenance-dashboard"


def _not_over() -> tuple[list, list[Silence]]:
    """Windows (with their services, through the join table: one query) and silences not over yet
    nor cancelled: two queries, made at most once a minute per cache (choices.cached), and again
    after any change to a window or silence (`choices.keep_fresh`, in this area's ready())."""
    at = now()
    pairs = list(
        MaintenanceWindow.services.through.objects.filter(
            maintenancewindow__in=MaintenanceWindow.objects.current_or_upcoming(at).values("pk")
        )
        .select_related("maintenancewindow", "service")
        .only("maintenancewindow__end", "maintenancewindow__start", "service__name")
        .order_by("maintenancewindow__end", "maintenancewindow_id", "service__name")
    )
    silences = list(Silence.objects.live().filter(expires_at__gt=at).order_by("expires_at", "pk"))
    return pairs, silences


def dashboard_context(at=None) -> dict:
    """What the dashboard shows of maintenance: the windows and silences in force, and the services
    in maintenance (its open incidents say "during maintenance"). No query on most requests: what
    is not over yet comes from the cache, and what is in force at `at` is picked from it here (so a
    window that begins shows on time without the cache being renewed)."""
    at = at or now()
    pairs, silences = choices.cached(CACHE_NAME, _not_over)
    pairs = [p for p in pairs if p.maintenancewindow.start <= at < p.maintenancewindow.end]
    active: dict[int, dict] = {}
    for pair in pairs:
        found = active.setdefault(pair.maintenancewindow_id, {"window": pair.maintenancewindow, "services": []})
        found["services"].append(pair.service.name)
    return {
        "maintenance_windows": list(active.values()),
        "maintenance_services": {pair.service_id for pair in pairs},
        "active_silences": [s for s in silences if s.starts_at <= at < s.expires_at],
    }
