"""On-call pages: the four-week calendar, rotation and override editing (global managers, and a
team's managers for the team's rotations: incidents.teams.may_configure), escalation policies with
their preview (managers and team managers edit), a service's page, the private iCalendar feed and
its token, the on-call load report and its CSV.

Every page loads the rotations once (paging.rotations_for_schedules: four queries) and
computes the rest in Python, so its query count does not grow with rotations, members,
overrides or services.
"""

import csv
import datetime as dt
import re
import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from incidents import roles
from incidents.access import role_required
from incidents.models import EscalationPolicy, EscalationStep, Override, Profile, Rotation, RotationMember, Service
from incidents.models.escalation import MAX_STEPS
from incidents.oncall import forms as forms_
from incidents.oncall import ical, load, paging, policies
from incidents.oncall.forms import EARLIEST, LoadMonthForm, OverrideForm, RotationForm
from incidents.people import display_name
from incidents.teams import configurable_teams, may_configure

VIEW = roles.VIEW_ROTATION
CALENDAR_DAYS = 28
CELL_LIMIT = 6
FEED_DAYS = 56
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


# --- the calendar ---------------------------------------------------------------------


def _days(start: dt.date, count: int, zone) -> list[tuple[dt.date, dt.datetime, dt.datetime]]:
    result = []
    for i in range(count + 1):
        day = start + dt.timedelta(days=i)
        result.append((day, dt.datetime.combine(day, dt.time(0), tzinfo=zone)))
    return [(d, a, b) for (d, a), (_, b) in zip(result, result[1:], strict=False)]


def _calendar_rows(schedule, days) -> list[list[dict]]:
    """Weeks of seven day cells; each cell lists who is on call that day and from when."""
    shifts = schedule.timeline(days[0][1], days[-1][2])
    cells, first = [], 0
    for day, start, end in days:
        # Shifts are in order and do not overlap: walk them once instead of once per day.
        while first < len(shifts) and shifts[first].end <= start:
            first += 1
        entries = []
        for shift in shifts[first:]:
            if shift.start >= end:
                break
            entries.append(
                {"user": shift.user, "from": shift.start if shift.start > start else None, "override": shift.override}
            )
        # Short shifts (hourly) would make a cell of 24 lines: show the first few and a count.
        cells.append({"day": day, "entries": entries[:CELL_LIMIT], "more": len(entries) - CELL_LIMIT})
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


@role_required(VIEW)
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The next four weeks per rotation, with who is on call now, in the viewer's time zone."""
    at = timezone.now()
    zone = timezone.get_current_timezone()
    days = _days(timezone.localdate(at), CALENDAR_DAYS, zone)
    directory = paging.Directory(at=at)
    # Which rotations this user may edit: every one for a global manager, their teams' for a team
    # manager (one query, whatever the number of rotations).
    global_manager = may_configure(request.user, None)
    managed = set() if global_manager else set(configurable_teams(request.user).values_list("pk", flat=True))
    rotations = []
    for schedule in directory.schedules:
        rotation = schedule.source
        rotations.append(
            {
                "rotation": rotation,
                "may_configure": global_manager or rotation.team_id in managed,
                "on_call": directory.on_call(schedule),
                "members": [m.user for m in rotation.memberships.all()],
                "services": list(rotation.services.all()),
                "overrides": [o for o in rotation.overrides.all() if o.end > at],
                "weeks": _calendar_rows(schedule, days),
            }
        )
    context = {"rotations": rotations, "now": at, "zone": zone, "may_create": global_manager or bool(managed)}
    return render(request, "oncall/index.html", context)


# --- managers: rotations and overrides --------------------------------------------------


def _configurable_rotation(request: HttpRequest, pk: int) -> Rotation:
    """The rotation, if this user may configure it (its team decides); else 403."""
    rotation = get_object_or_404(Rotation.objects.select_related("team"), pk=pk)
    if not may_configure(request.user, rotation.team):
        raise PermissionDenied
    return rotation


def _save_rotation(form: RotationForm) -> Rotation:
    with transaction.atomic():
        rotation = form.save()
        RotationMember.objects.filter(rotation=rotation).delete()
        # One by one (not bulk_create): the audit log records each member (incidents/audit.py).
        for i, user in enumerate(form.cleaned_data["members"]):
            RotationMember.objects.create(rotation=rotation, user=user, position=i)
        paging.schedule_next_handoff(rotation)
    return rotation


def _rotation_form(request: HttpRequest, rotation: Rotation | None) -> HttpResponse:
    form = RotationForm(request.POST or None, instance=rotation, user=request.user)
    if request.method == "POST" and form.is_valid():
        rotation = _save_rotation(form)
        messages.success(request, f"Rotation “{rotation.name}” saved.")
        return redirect(reverse("oncall:index") + f"#rotation-{rotation.pk}")
    status = 422 if form.is_bound else 200
    return render(request, "oncall/rotation_form.html", {"form": form, "rotation": rotation}, status=status)


@role_required(VIEW)
@require_http_methods(["GET", "POST"])
def rotation_new(request: HttpRequest) -> HttpResponse:
    """Global managers, and team managers for their own teams (the form offers only those)."""
    if not may_configure(request.user, None) and not configurable_teams(request.user).exists():
        raise PermissionDenied
    return _rotation_form(request, None)


@role_required(VIEW)
@require_http_methods(["GET", "POST"])
def rotation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rotation_form(request, _configurable_rotation(request, pk))


@role_required(VIEW)
@require_http_methods(["GET", "POST"])
def override_new(request: HttpRequest, pk: int) -> HttpResponse:
    rotation = _configurable_rotation(request, pk)
    form = OverrideForm(request.POST or None, rotation=rotation)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            override = form.save(commit=False)
            override.created_by = request.user
            override.save()
            paging.schedule_next_handoff(rotation)
        messages.success(request, f"Override saved: {override.user} covers {rotation.name}.")
        return redirect(reverse("oncall:index") + f"#rotation-{rotation.pk}")
    status = 422 if form.is_bound else 200
    return render(request, "oncall/override_form.html", {"form": form, "rotation": rotation}, status=status)


@role_required(VIEW)
@require_POST
def override_delete(request: HttpRequest, pk: int) -> HttpResponse:
    override = get_object_or_404(Override.objects.select_related("rotation__team"), pk=pk)
    rotation = override.rotation
    if not may_configure(request.user, rotation.team):
        raise PermissionDenied
    with transaction.atomic():
        override.delete()
        paging.schedule_next_handoff(rotation)
    messages.success(request, f"Override removed from {rotation.name}.")
    return redirect(reverse("oncall:index") + f"#rotation-{rotation.pk}")


# --- the on-call load report --------------------------------------------------------------

# Those who carry the pages see how they are shared: responders and managers (who are the people on
# call, and who lead incidents). Viewers and reporters are never paged: the report is not theirs.
LOAD = roles.RESPOND_INCIDENT


def _load_month(request: HttpRequest) -> tuple[LoadMonthForm, load.Month | None]:
    """The month asked for, in the viewer's time zone (as /reports/ counts months), or None with
    the form's error when `?month=` is not a month the report can show."""
    zone = timezone.get_current_timezone()
    form = LoadMonthForm(request.GET or None, today=timezone.localdate(timezone.now(), zone))
    if not form.is_bound:
        return form, load.Month(form.today.replace(day=1), zone)
    if not form.is_valid():
        return form, None
    return form, load.Month(form.cleaned_data["month"], zone)


@role_required(LOAD)
@require_safe
def load_report(request: HttpRequest) -> HttpResponse:
    """Per person, the month's pages, pages at night, hours on call and incidents led."""
    form, month = _load_month(request)
    if month is None:
        return render(request, "oncall/load.html", {"form": form, "invalid": True}, status=400)
    at = timezone.now()
    context = {
        "form": form,
        "month": month,
        "rows": load.month_load(request.user, month, at=at),
        "previous": month.preceding if month.preceding >= EARLIEST else None,
        "next": month.following if month.following <= form.today else None,
        "current": month.end > at,
        "night": load.night_label(),
        "sees_all": request.user.has_perm(roles.VIEW_RESTRICTED),
    }
    return render(request, "oncall/load.html", context)


@role_required(LOAD)
@require_safe
def load_csv(request: HttpRequest) -> HttpResponse:
    """The report's table as CSV, one row per person; a bad `?month=` is a 400 saying why."""
    form, month = _load_month(request)
    if month is None:
        message = f"Bad month: {' '.join(form.errors['month'])}\n"
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="oncall-load-{month.key}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["month", "person", "username", "active", "time_zone", "pages", "night_pages", "hours_on_call", "incidents_led"]
    )
    for row in load.month_load(request.user, month):
        writer.writerow(
            [
                month.key,
                _cell(row.name),
                _cell(row.user.get_username()),
                "yes" if row.user.is_active else "no",
                str(row.zone),
                row.pages,
                row.night_pages,
                f"{row.hours:.2f}",
                row.led,
            ]
        )
    return response


def _cell(text: str) -> str:
    """A name a spreadsheet would read as a formula ("=HYPERLINK(...)") is kept as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- a service's page -------------------------------------------------------------------


# --- the private calendar feed ------------------------------------------------------------


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """A user's shifts for the next eight weeks as iCalendar. No sign-in: the token is the key.

    A malformed, unknown or revoked token is a 404, the same as a feed that never existed.
    """
    if not TOKEN_RE.match(token):
        raise Http404
    profile = Profile.objects.select_related("user").filter(calendar_token=token, user__is_active=True).first()
    if profile is None or not secrets.compare_digest(profile.calendar_token, token):
        raise Http404
    user = profile.user
    at = timezone.now()
    shifts = paging.shifts_of_user(user, start=at - dt.timedelta(days=1), end=at + dt.timedelta(days=FEED_DAYS))
    events = [
        (rotation, shift, f"You are on call for {rotation.name}.") for rotation, shift in shifts if shift.end > at
    ]
    name = f"Beacon on call: {display_name(user)}"
    body = ical.calendar(name=name, events=events, stamp=at)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="beacon-oncall.ics"'
    # The address is a secret: no shared caches, and no referrer leaking it onwards.
    response["Cache-Control"] = "private, max-age=300"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
def calendar_token(request: HttpRequest) -> HttpResponse:
    """Regenerate (new secret address; the old one stops working) or revoke the user's feed."""
    action = request.POST.get("action")
    if action not in ("regenerate", "revoke"):
        messages.error(request, "Choose to create a new calendar address or to turn the feed off.")
        return redirect("profile")
    profile, _ = Profile.objects.get_or_create(user=request.user)
    profile.calendar_token = secrets.token_urlsafe(32) if action == "regenerate" else ""
    profile.save(update_fields=["calendar_token"])
    if action == "regenerate":
        messages.success(request, "Your calendar has a new secret address; the old one no longer works.")
    else:
        messages.success(request, "Your calendar feed is turned off.")
    return redirect("profile")


def profile_context(request: HttpRequest, profile: Profile) -> dict:
    """What the profile page shows about on call: current and next shifts, the feed's address."""
    token = profile.calendar_token
    url = request.build_absolute_uri(reverse("oncall:calendar_feed", kwargs={"token": token})) if token else ""
    return {"oncall_shifts": paging.user_on_call(request.user), "calendar_url": url}


# --- escalation policies ------------------------------------------------------------------
# Everybody with a role reads them; Beacon's managers edit every policy, a team manager their
# team's (incidents/oncall/policies.py: may_add, may_edit, may_delete).


def _policies_with_everything():
    return paging._policies().prefetch_related("services").order_by("-is_default", "name")


@role_required(roles.VIEW_ESCALATIONPOLICY)
@require_safe
def policy_list(request: HttpRequest) -> HttpResponse:
    """Every policy with its steps and services: four queries, whatever their number."""
    return render(
        request,
        "oncall/policy_list.html",
        {"policies": list(_policies_with_everything()), "may_add": policies.may_add(request.user)},
    )


@role_required(roles.VIEW_ESCALATIONPOLICY)
@require_safe
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A policy and its preview for a chosen severity, time and service (default: the most
    urgent severity it escalates, now, its first service)."""
    policy = get_object_or_404(_policies_with_everything(), pk=pk)
    services = list(policy.services.all())
    initial = {
        "severity": policy.severities[0] if policy.severities else "critical",
        "service": services[0].pk if services else None,
    }
    form = forms_.PreviewForm(request.GET or None, initial=initial)
    rungs, severity, start, service = [], initial["severity"], timezone.now(), services[0] if services else None
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        if form.is_bound:
            severity = form.cleaned_data["severity"]
            start = form.cleaned_data["at"] or start
            service = form.cleaned_data["service"]
        rungs = policies.preview(policy, severity=severity, start=start, service=service)
    context = {
        "policy": policy,
        "form": form,
        "rungs": rungs,
        "severity": severity,
        "start": start,
        "service": service,
        "may_edit": policies.may_edit(request.user, policy),
        "may_delete": policies.may_delete(request.user, policy) and not policy.is_default,
    }
    return render(request, "oncall/policy_detail.html", context, status=status)


def _save_policy(form: forms_.PolicyForm, steps: forms_.StepFormSet) -> EscalationPolicy:
    """The policy, its services and its steps, in one transaction, row by row (the audit log
    records each change: incidents/audit.py)."""
    with transaction.atomic():
        policy = form.save()
        chosen = {s.pk for s in form.cleaned_data["services"]}
        for service in Service.objects.filter(escalation_policy=policy).exclude(pk__in=chosen):
            service.escalation_policy = None
            service.save()
        for service in form.cleaned_data["services"]:
            if service.escalation_policy_id != policy.pk:
                service.escalation_policy = policy
                service.save()
        # Steps are run by position: rewrite them in the order given (a running incident's next
        # step reads the new list, docs/oncall.md).
        for step in EscalationStep.objects.filter(policy=policy):
            step.delete()
        for position, step_form in enumerate(steps.ordered_forms):
            data = step_form.cleaned_data
            EscalationStep.objects.create(
                policy=policy,
                position=position,
                target=data["target"],
                delay_minutes=data.get("delay_minutes"),
                rotation=data.get("rotation"),
                user=data.get("user"),
            )
    return policy


def _policy_form(request: HttpRequest, policy: EscalationPolicy | None) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    adding_step = data is not None and "add_step" in data
    if adding_step:
        # "Add a step" without JavaScript: the same form again, with one more blank step.
        data = data.copy()
        total = int(data.get("steps-TOTAL_FORMS") or 0)
        data["steps-TOTAL_FORMS"] = str(min(total + 1, MAX_STEPS))
    form = forms_.PolicyForm(data, instance=policy, user=request.user)
    steps = forms_.StepFormSet(data, instance=policy or EscalationPolicy(), prefix="steps")
    if policy is None and data is None:
        steps = forms_.StepFormSet(instance=EscalationPolicy(), prefix="steps", queryset=EscalationStep.objects.none())
        steps.extra = 1
    if data is not None and not adding_step:
        form_valid = form.is_valid()
        steps.severities = form.cleaned_data.get("severities", []) if form_valid else []
        if form_valid and steps.is_valid():
            policy = _save_policy(form, steps)
            messages.success(request, f"Escalation policy “{policy.name}” saved.")
            return redirect("oncall:policy_detail", pk=policy.pk)
        status = 422
    else:
        status = 200
    context = {"form": form, "steps": steps, "policy": policy, "adding_step": adding_step}
    return render(request, "oncall/policy_form.html", context, status=status)


@role_required(roles.VIEW_ESCALATIONPOLICY)
@require_http_methods(["GET", "POST"])
def policy_new(request: HttpRequest) -> HttpResponse:
    if not policies.may_add(request.user):
        raise PermissionDenied
    return _policy_form(request, None)


@role_required(roles.VIEW_ESCALATIONPOLICY)
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(EscalationPolicy, pk=pk)
    if not policies.may_edit(request.user, policy):
        raise PermissionDenied
    return _policy_form(request, policy)


@role_required(roles.VIEW_ESCALATIONPOLICY)
@require_POST
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(EscalationPolicy, pk=pk)
    if not policies.may_delete(request.user, policy):
        raise PermissionDenied
    if policy.is_default:
        messages.error(request, "The default policy cannot be deleted: make another policy the default first.")
        return redirect("oncall:policy_detail", pk=policy.pk)
    with transaction.atomic():
        # Its services fall back to the default policy (on_delete SET_NULL), saved one by one for the audit log.
        for service in Service.objects.filter(escalation_policy=policy):
            service.escalation_policy = None
            service.save()
        for step in EscalationStep.objects.filter(policy=policy):
            step.delete()
        policy.delete()
    messages.success(request, f"Escalation policy “{policy.name}” deleted; its services follow the default policy.")
    return redirect("oncall:policy_list")
