"""User reports: "Report a problem" on the public status page (no account), the emailed link
that confirms an address for updates, and the responders' triage queue. The rules are in
incidents/user_reports.py."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from incidents import roles, user_reports, workflow
from incidents.access import role_required
from incidents.forms import ReferenceField
from incidents.models import Incident, Service, Severity, UserReport
from incidents.notifications import outbox
from incidents.security import QUIET, REFUSED, client_ip, throttle, too_many_requests

FORM_SALT = "beacon.user-report.form"
CONFIRM_SALT = "beacon.user-report.confirm"


def public_services():
    return Service.objects.filter(is_public=True).order_by("name")


class ProblemForm(forms.Form):
    what = forms.CharField(
        label="What is wrong?", max_length=2000, widget=forms.Textarea(attrs={"rows": 4}), strip=True
    )
    since = forms.CharField(label="Since when? (optional)", max_length=100, required=False)
    service = forms.ModelChoiceField(
        queryset=Service.objects.none(),
        required=False,
        label="Which service? (optional)",
        empty_label="I am not sure",
        error_messages={"invalid_choice": "Choose one of the listed services."},
    )
    email = forms.EmailField(
        label="Your email (optional)",
        required=False,
        max_length=254,
        help_text="To hear how it goes: we send a link to confirm first.",
    )
    # Bot traps: a field people never see, and the moment the form was shown (signed).
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    shown = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = public_services()
        if not self.is_bound:
            self.initial["shown"] = signing.TimestampSigner(salt=FORM_SALT).sign("form")

    def looks_like_a_bot(self) -> bool:
        """Filled the hidden field, or sent the form faster than a person types (or never loaded it)."""
        if self.cleaned_data.get("website"):
            return True
        try:
            signing.TimestampSigner(salt=FORM_SALT).unsign(self.cleaned_data.get("shown", ""), max_age=24 * 3600)
        except signing.BadSignature:
            return True
        try:
            signing.TimestampSigner(salt=FORM_SALT).unsign(
                self.cleaned_data["shown"], max_age=settings.USER_REPORT_MIN_SECONDS
            )
        except signing.SignatureExpired:
            return False  # older than the minimum fill time: a person
        return True


def _page(request, template: str, context: dict | None = None, status: int = 200) -> HttpResponse:
    return render(request, template, {"time_zone": settings.TIME_ZONE, **(context or {})}, status=status)


def confirmation_token(report: UserReport) -> str:
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign_object({"r": report.pk, "e": report.email})


@never_cache
@require_http_methods(["GET", "POST"])
def report_problem(request: HttpRequest) -> HttpResponse:
    form = ProblemForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].strip().lower()
        minutes = settings.USER_REPORT_WINDOW_MINUTES
        if form.looks_like_a_bot():
            # The same answer as for a person, and nothing stored: a bot learns nothing.
            return redirect("user_report:thanks")
        verdict = throttle(
            "user-report",
            request,
            # Without an address, the client is all there is to count.
            email or f"client:{client_ip(request)}",
            per_ip=settings.USER_REPORT_PER_IP,
            per_address=settings.USER_REPORT_PER_ADDRESS if email else settings.USER_REPORT_PER_IP,
            minutes=minutes,
        )
        if verdict == REFUSED:
            return too_many_requests(request, minutes)
        if verdict != QUIET:
            with transaction.atomic():
                report = user_reports.submit(
                    what=form.cleaned_data["what"],
                    since=form.cleaned_data["since"],
                    service=form.cleaned_data["service"],
                    email=email,
                )
                if email:
                    link = settings.SITE_URL + reverse(
                        "user_report:confirm", kwargs={"token": confirmation_token(report)}
                    )
                    row = outbox.public_email(
                        "notifications/user_report_confirm.txt",
                        {"link": link, "hours": settings.STATUS_SUBSCRIBE_LINK_HOURS},
                        event_key=f"user-report-confirm:{report.pk}",
                        recipient=email,
                        subject="Thank you for your report: confirm to hear how it goes",
                    )
                    outbox.write([row])
        return redirect("user_report:thanks")
    return _page(request, "status/report_problem.html", {"form": form}, status=422 if form.is_bound else 200)


@never_cache
@require_http_methods(["GET"])
def thanks(request: HttpRequest) -> HttpResponse:
    return _page(request, "status/report_thanks.html")


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the link shows a button (mail scanners open links); pressing it confirms."""
    try:
        data = signing.TimestampSigner(salt=CONFIRM_SALT).unsign_object(
            token, max_age=settings.STATUS_SUBSCRIBE_LINK_HOURS * 3600
        )
        report = UserReport.objects.filter(pk=data["r"], email=data["e"]).first() if isinstance(data, dict) else None
    except (signing.BadSignature, KeyError, TypeError):
        report = None
    if report is None:
        return _page(request, "status/report_confirm_invalid.html", status=400)
    if request.method == "POST":
        user_reports.confirm_email(report)
        return _page(request, "status/report_confirmed.html")
    return _page(request, "status/report_confirm.html")


# --- the responders' triage queue -----------------------------------------------------------


class TriageForm(forms.Form):
    ACTIONS = [("attach", "Attach to an incident"), ("open", "Open an incident"), ("dismiss", "Dismiss")]

    reports = forms.ModelMultipleChoiceField(
        queryset=UserReport.objects.filter(state=UserReport.State.NEW),
        error_messages={
            "required": "Tick at least one report.",
            "invalid_choice": "Some of these reports were handled meanwhile: look again.",
        },
    )
    action = forms.ChoiceField(choices=ACTIONS)
    incident = ReferenceField(required=False, label="Incident (to attach to)")
    service = forms.ModelChoiceField(queryset=Service.objects.all(), required=False, label="Service (to open)")
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.MEDIUM, label="Severity (to open)")


@role_required(roles.RESPOND_INCIDENT)
@require_http_methods(["GET", "POST"])
def triage(request: HttpRequest) -> HttpResponse:
    form = TriageForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        ids = [report.pk for report in form.cleaned_data["reports"]]
        action = form.cleaned_data["action"]
        try:
            if action == "dismiss":
                count = user_reports.dismiss(ids, by=request.user)
                messages.success(request, f"{count} report(s) dismissed.")
                return redirect("incidents:user_reports")
            if action == "attach":
                wanted = form.cleaned_data["incident"]
                incident = Incident.objects.visible_to(request.user).by_ref(wanted).first() if wanted else None
                if incident is None:
                    form.add_error("incident", "Give the reference of an open incident, like INC-42.")
                else:
                    count = user_reports.attach(ids, incident, by=request.user)
                    messages.success(request, f"{count} report(s) attached to {incident.ref}.")
                    return redirect(incident)
            if action == "open":
                service = form.cleaned_data["service"] or next(
                    (r.service for r in form.cleaned_data["reports"] if r.service), None
                )
                if service is None:
                    form.add_error("service", "Choose the service to open the incident on.")
                else:
                    incident = user_reports.open_incident(
                        ids, by=request.user, service=service, severity=form.cleaned_data["severity"]
                    )
                    messages.success(request, f"{incident.ref} opened from {len(ids)} report(s).")
                    return redirect(incident)
        except workflow.InvalidTransition as refusal:
            form.add_error(None, str(refusal))
    queue = list(
        UserReport.objects.filter(state=UserReport.State.NEW)
        .select_related("service")
        .order_by("-created_at", "-pk")[: user_reports.QUEUE_SHOWN]
    )
    chosen = {int(pk) for pk in request.POST.getlist("reports") if pk.isdigit() and len(pk) < 12}
    status = 422 if form.is_bound else 200
    context = {"form": form, "queue": queue, "chosen": chosen}
    return render(request, "incidents/user_reports.html", context, status=status)
