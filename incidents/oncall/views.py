"""On-call pages: the four-week calendar, rotation and override editing (managers), escalation
policies with their preview (managers and team managers edit), a service's page, the private
iCalendar feed and its token.

Every page loads the rotations once (paging.rotations_for_schedules: four queries) and
computes the rest in Python, so its query count does not grow with rotations, members,
overrides or services.
"""

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
from incidents.oncall import ical, paging, policies
from incidents.oncall.forms import OverrideForm, RotationForm
from incidents.people import display_name

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
    rotations = []
    for schedule in directory.schedules:
        rotation = schedule.source
        rotations.append(
            {
                "rotation": rotation,
                "on_call": directory.on_call(schedule),
                "members": [m.user for m in rotation.memberships.all()],
                "services": list(rotation.services.all()),
                "overrides": [o for o in rotation.overrides.all() if o.end > at],
                "weeks": _calendar_rows(schedule, days),
            }
        )
    return render(request, "oncall/index.html", {"rotations": rotations, "now": at, "zone": zone})


# --- managers: rotations and overrides --------------------------------------------------


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
    form = RotationForm(request.POST or None, instance=rotation)
    if request.method == "POST" and form.is_valid():
        rotation = _save_rotation(form)
        messages.success(request, f"Rotation “{rotation.name}” saved.")
        return redirect(reverse("oncall:index") + f"#rotation-{rotation.pk}")
    status = 422 if form.is_bound else 200
    return render(request, "oncall/rotation_form.html", {"form": form, "rotation": rotation}, status=status)


@role_required(roles.ADD_ROTATION)
@require_http_methods(["GET", "POST"])
def rotation_new(request: HttpRequest) -> HttpResponse:
    return _rotation_form(request, None)


@role_required(roles.CHANGE_ROTATION)
@require_http_methods(["GET", "POST"])
def rotation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rotation_form(request, get_object_or_404(Rotation, pk=pk))


@role_required(roles.ADD_OVERRIDE)
@require_http_methods(["GET", "POST"])
def override_new(request: HttpRequest, pk: int) -> HttpResponse:
    rotation = get_object_or_404(Rotation, pk=pk)
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


@role_required(roles.DELETE_OVERRIDE)
@require_POST
def override_delete(request: HttpRequest, pk: int) -> HttpResponse:
    override = get_object_or_404(Override.objects.select_related("rotation"), pk=pk)
    rotation = override.rotation
    with transaction.atomic():
        override.delete()
        paging.schedule_next_handoff(rotation)
    messages.success(request, f"Override removed from {rotation.name}.")
    return redirect(reverse("oncall:index") + f"#rotation-{rotation.pk}")


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
