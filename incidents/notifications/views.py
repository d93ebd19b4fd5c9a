"""Notification pages: following incidents and services, the user's notification settings,
a service's stakeholder list (its team's managers and global managers), the unsubscribe link of
every email, and the delivery ledger panel of the incident page (registered by
incidents/notifications/__init__.py; a fixed number of queries).
"""

from collections import Counter

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from incidents import choices, roles
from incidents.access import SignedInRequest, get_incident_for, incident_condition, role_required
from incidents.models import Incident, Notification, Service, Severity, Subscription
from incidents.notifications import actions, outbox
from incidents.notifications.unsubscribe import read_unsubscribe_token
from incidents.notifications.unsubscribe import unsubscribe as stop_what_caused
from incidents.teams import may_configure

RESPOND = roles.RESPOND_INCIDENT
FOLLOW = roles.FOLLOW_INCIDENT
LEDGER_ROWS = 50


class NotificationSettingsForm(forms.Form):
    min_severity = forms.ChoiceField(
        label="Email me about every new incident at or above",
        required=False,
        choices=[("", "No, only what I follow or lead")] + [(s.value, s.label) for s in Severity],
    )


# --- the delivery ledger panel --------------------------------------------------------


def ledger_panel_context(request: HttpRequest, incident: Incident) -> dict | None:
    """The delivery ledger for responders: the newest rows and counts per state (1 query, none when
    the incident says it has no deliveries; 2 when there are more rows than it shows)."""
    if not request.user.has_perm(RESPOND):
        return None
    # The incident page's incident says whether there are any (incidents/views.py, _page_incident).
    none = getattr(incident, "has_notifications", True) is False
    rows = [] if none else list(incident.notifications.order_by("-created_at", "-pk")[: LEDGER_ROWS + 1])
    if len(rows) <= LEDGER_ROWS:  # every row in hand: count them here
        counts = dict(Counter(row.state for row in rows))
    else:
        rows = rows[:LEDGER_ROWS]
        counts = dict(incident.notifications.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    return {
        "incident": incident,
        "rows": rows,
        "counts": [(state, counts.get(state.value, 0)) for state in Notification.State],
        "total": sum(counts.values()),
        "shown": len(rows),
    }


# --- following -------------------------------------------------------------------------


@role_required(roles.RESPOND_INCIDENT)
@require_http_methods(["GET"])
def update_audience(request: SignedInRequest, ref: str) -> HttpResponse:
    """Who a public, and an internal, status update would reach now (counts only): loaded into
    the update form with htmx, a page of its own without JavaScript."""
    incident = get_incident_for(request, ref)
    context = {
        "incident": incident,
        "public": outbox.update_audience(incident, author=request.user, public=True),
        "internal": outbox.update_audience(incident, author=request.user, public=False),
    }
    htmx = getattr(request, "htmx", False)  # django-htmx's middleware sets it
    template = "incidents/_update_audience.html" if htmx else "incidents/update_audience.html"
    return render(request, template, context)


@role_required(FOLLOW)
@require_POST
def follow_incident(request: SignedInRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    Subscription.objects.follow(request.user, incident=incident)
    messages.success(request, f"You follow {incident.ref}: you will hear its public updates and its resolution.")
    return redirect(incident)


@role_required(FOLLOW)
@require_POST
def unfollow_incident(request: SignedInRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    Subscription.objects.filter(user=request.user, incident=incident).delete()
    messages.success(request, f"You no longer follow {incident.ref}.")
    return redirect(incident)


def _back_to(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default)


@role_required(FOLLOW)
@require_POST
def follow_service(request: SignedInRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    Subscription.objects.follow(request.user, service=service)
    messages.success(request, f"You follow {service.name}.")
    return _back_to(request, "profile")


@role_required(FOLLOW)
@require_POST
def unfollow_service(request: SignedInRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    Subscription.objects.filter(user=request.user, service=service).delete()
    messages.success(request, f"You no longer follow {service.name}.")
    return _back_to(request, "profile")


# --- a service's stakeholder list: its team's managers ----------------------------------


class StakeholderForm(forms.Form):
    """One stakeholder: a user (by username) or an outside email address, not both."""

    username = forms.CharField(
        max_length=150,
        required=False,
        help_text="A Beacon user: hears what following the service brings.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    email = forms.EmailField(
        label="or an outside email address", required=False, help_text="Receives public updates only."
    )

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        if not name:
            return None
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user is called “{name}”.")
        return user

    def clean(self):
        data = super().clean()
        if not self.errors and bool(data.get("username")) == bool(data.get("email")):
            raise forms.ValidationError("Give either a username or an outside email address.")
        return data


def _stakeholder_service(request: HttpRequest, slug: str) -> Service:
    """The service, if the user may keep its stakeholder list: the service's team decides."""
    service = get_object_or_404(Service.objects.select_related("team"), slug=slug)
    if not may_configure(request.user, service.team):
        raise PermissionDenied
    return service


@role_required(FOLLOW)
@require_http_methods(["GET", "POST"])
def stakeholders(request: SignedInRequest, slug: str) -> HttpResponse:
    """The service's stakeholder list (the users following it and outside addresses), and a form
    adding one. Three queries to show it, whatever its length."""
    service = _stakeholder_service(request, slug)
    form = StakeholderForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        user, email = form.cleaned_data["username"], form.cleaned_data["email"]
        try:
            with transaction.atomic():
                Subscription.objects.create(service=service, user=user, email=email or "")
        except IntegrityError:
            messages.info(request, f"{user or email} is on the stakeholder list of {service.name} already.")
        else:
            messages.success(request, f"{user or email} is on the stakeholder list of {service.name}.")
        return redirect("incidents:stakeholders", slug=service.slug)
    rows = list(Subscription.objects.filter(service=service).select_related("user").order_by("email", "user__username"))
    context = {"service": service, "rows": rows, "form": form}
    return render(request, "notifications/stakeholders.html", context, status=422 if form.is_bound else 200)


@role_required(FOLLOW)
@require_POST
def stakeholder_remove(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    service = _stakeholder_service(request, slug)
    row = get_object_or_404(Subscription.objects.select_related("user"), pk=pk, service=service)
    row.delete()
    messages.success(request, f"{row.email or row.user} is no longer on the stakeholder list of {service.name}.")
    return redirect("incidents:stakeholders", slug=service.slug)


# --- the user's settings ---------------------------------------------------------------


def settings_context(user) -> dict:
    """For the profile page: what the user follows and their severity threshold (2 queries)."""
    if not user.has_perm(FOLLOW):
        return {}
    # A follow of an incident restricted since is kept but not shown (need-to-know: incidents/access.py).
    visible = incident_condition(user, "incident__", or_none=True)
    subscriptions = list(Subscription.objects.filter(user=user).filter(visible).select_related("incident", "service"))
    threshold = next((s.min_severity for s in subscriptions if s.min_severity), "")
    followed = {s.service_id for s in subscriptions if s.service_id}
    # "My teams" first (docs/teams.md): their services lead the list, with one button to follow
    # those not followed yet. Who is in which team comes from the cache (no query).
    mine = {pk for pk, _ in choices.team_memberships().get(user.pk, ())}
    services = sorted(
        Service.objects.only("name", "slug", "team").order_by("name"), key=lambda s: s.team_id not in mine
    )
    return {
        "notification_form": NotificationSettingsForm(initial={"min_severity": threshold}),
        "followed_incidents": [s.incident for s in subscriptions if s.incident_id],
        "services": [(service, service.pk in followed, service.team_id in mine) for service in services],
        "team_services_to_follow": sum(1 for s in services if s.team_id in mine and s.pk not in followed),
    }


@role_required(FOLLOW)
@require_POST
def follow_my_teams(request: SignedInRequest) -> HttpResponse:
    """Follow every service of the user's teams not followed yet (one click, from the profile)."""
    mine = [pk for pk, _ in choices.team_memberships().get(request.user.pk, ())]
    if not mine:
        messages.info(request, "You are in no team: follow services one by one below.")
        return redirect("profile")
    count = 0
    for service in Service.objects.filter(team__in=mine).exclude(subscriptions__user=request.user):
        Subscription.objects.follow(request.user, service=service)  # one by one: the audit log records each
        count += 1
    messages.success(request, f"You now follow {count} more service{'s' if count != 1 else ''} of your teams.")
    return redirect("profile")


@role_required(FOLLOW)
@require_POST
def notification_settings(request: SignedInRequest) -> HttpResponse:
    form = NotificationSettingsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed severities.")
        return redirect("profile")
    with transaction.atomic():
        Subscription.objects.filter(user=request.user).exclude(min_severity="").delete()
        if form.cleaned_data["min_severity"]:
            Subscription.objects.create(user=request.user, min_severity=form.cleaned_data["min_severity"])
    messages.success(request, "Your notification settings are saved.")
    return redirect("profile")


# --- unsubscribe: no sign-in, a signed token -------------------------------------------


@csrf_exempt  # mail providers' one-click POST (RFC 8058) carries no CSRF token; the signature is the credential
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (mail scanners follow links); POST unsubscribes, also as RFC 8058 one-click."""
    try:
        notification = read_unsubscribe_token(token)
    except signing.BadSignature:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "GET":
        return render(request, "notifications/unsubscribe.html", {"notification": notification, "token": token})
    done = stop_what_caused(notification) if notification else "There is nothing left to unsubscribe from."
    return render(request, "notifications/unsubscribe.html", {"done": done})


# --- action links in emails: no sign-in, a signed single-use token ----------------------


@never_cache
@require_http_methods(["GET", "POST"])
def email_action(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks, with one button, and changes nothing (mail scanners prefetch links); POST acts
    as the link's recipient (incidents/notifications/actions.py). A refused link says why."""
    template = "notifications/email_action.html"
    try:
        link = actions.read(token)
    except actions.LinkRefused as refused:
        return render(request, template, {"refused": refused}, status=refused.status)
    if request.method == "GET":
        return render(request, template, {"link": link})
    try:
        done = actions.perform(link)
    except actions.LinkRefused as refused:
        link.incident.refresh_from_db()
        return render(request, template, {"refused": refused, "link": link}, status=refused.status)
    return render(request, template, {"link": link, "done": done})
