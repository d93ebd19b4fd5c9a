"""The paging section of a person's settings: their paging channels (Apprise URLs), the rules that
make their page plan, their quiet hours, and what the plan does now for each severity.

Everyone edits only their own: every query starts from `request.user`, and someone else's
channel or rule is a 404. A channel's URL is a secret (incidents/models/channels.py): the form
never draws it back, the page shows only its service ("ntfys://…"). "Send a test message" goes
through the outbox like a page (same queue, retries, lease and ledger), and the page shows how
the latest message to each channel fared.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from incidents.access import SignedInRequest
from incidents.models import Notification, NotificationRule, PagingChannel, QuietHours, Severity
from incidents.models.channels import apprise_refusal
from incidents.notifications import outbox, rules

MAX_CHANNELS = 10
MAX_RULES = 20
MAX_DELAY_MINUTES = 24 * 60


class ChannelForm(forms.Form):
    label = forms.CharField(max_length=60, help_text="What you call it, e.g. “ntfy on my phone”.")
    url = forms.CharField(
        label="Apprise URL",
        max_length=2000,
        # Never drawn back into the page, even when the form comes back with an error: it is a secret.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Like ntfys://ntfy.sh/your-secret-topic or pover://user@token: "
        "see the Apprise wiki (github.com/caronc/apprise/wiki) for your service.",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_label(self) -> str:
        label = " ".join(self.cleaned_data["label"].split())
        if self.user is not None and PagingChannel.objects.filter(user=self.user, label=label).exists():
            raise forms.ValidationError("You already have a channel with this name.")
        return label

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        refusal = apprise_refusal(url)
        if refusal:
            raise forms.ValidationError(refusal)
        return url


class RuleForm(forms.Form):
    target = forms.ChoiceField(label="Channel")
    delay_minutes = forms.IntegerField(
        label="After (minutes)", min_value=0, max_value=MAX_DELAY_MINUTES, initial=0, help_text="0: at once."
    )
    severities = forms.MultipleChoiceField(
        choices=Severity.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=Severity.values,
        error_messages={"required": "Tick at least one severity."},
    )

    def __init__(self, *args, user=None, channels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.channels = {str(c.pk): c for c in channels}
        self.fields["target"].choices = [("email", "Email"), ("slack", "Slack")] + [
            (f"channel:{pk}", c.label) for pk, c in self.channels.items()
        ]

    def rule(self) -> NotificationRule:
        data = self.cleaned_data
        target, _, pk = data["target"].partition(":")
        channel = self.channels.get(pk) if target == "channel" else None
        return NotificationRule(
            user=self.user,
            target=NotificationRule.Target.APPRISE if channel else target,
            channel=channel,
            delay_minutes=data["delay_minutes"],
            severities=[s for s in Severity.values if s in data["severities"]],
        )


class QuietHoursForm(forms.Form):
    start = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    end = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"), help_text="Before the start: over midnight."
    )

    def clean(self):
        data = super().clean()
        if data.get("start") is not None and data.get("start") == data.get("end"):
            raise forms.ValidationError("Quiet hours start and end at different times.")
        return data


def _context(request: SignedInRequest, **forms_) -> dict:
    """Everything the page shows (5 queries, and 3 per severity for the plan)."""
    user = request.user
    # Each channel with its latest message (a test or a page), to show how it fared.
    latest = (
        Notification.objects.filter(
            channel=Notification.Channel.APPRISE,
            recipient=Concat(Value("apprise:"), Cast(OuterRef("pk"), CharField())),
        )
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    channels = list(PagingChannel.objects.filter(user=user).annotate(latest_pk=Subquery(latest)))
    user_rules = list(NotificationRule.objects.filter(user=user).select_related("channel"))
    quiet = QuietHours.objects.filter(user=user).first()
    rows = Notification.objects.in_bulk([c.latest_pk for c in channels if c.latest_pk])
    at = timezone.now()
    plans = [(Severity(s).label, rules.page_plan(user, severity=s, at=at)) for s in Severity.values]
    return {
        "channels": [(c, rows.get(c.latest_pk)) for c in channels],
        "rules": user_rules,
        "quiet": quiet,
        "plans": plans,
        "channel_form": forms_.get("channel_form") or ChannelForm(user=user),
        "rule_form": forms_.get("rule_form") or RuleForm(user=user, channels=channels),
        "quiet_form": forms_.get("quiet_form")
        or QuietHoursForm(initial={"start": quiet.start, "end": quiet.end} if quiet else None),
    }


@login_required
@require_http_methods(["GET"])
def paging_settings(request: SignedInRequest) -> HttpResponse:
    return render(request, "notifications/paging.html", _context(request))


def _invalid(request: SignedInRequest, **forms_) -> HttpResponse:
    return render(request, "notifications/paging.html", _context(request, **forms_), status=422)


def queue_test_message(channel: PagingChannel) -> bool:
    """A test message to `channel` through the outbox (at most one a minute: the event key).
    Returns whether a new one was queued."""
    at = timezone.now()
    row = Notification(
        event_key=f"apprise-test:{channel.pk}:{at:%Y%m%d%H%M}",
        channel=Notification.Channel.APPRISE,
        recipient=channel.recipient,
        audience=Notification.Audience.TEAM,
        user=channel.user,
        reason="test",
        subject="Beacon: test message",
        body_text=f"This is a test message from Beacon for “{channel.label}”. "
        "If you read it, your pages can reach you here.",
    )
    return bool(outbox.write([row]))


@login_required
@require_POST
def add_channel(request: SignedInRequest) -> HttpResponse:
    form = ChannelForm(request.POST, user=request.user)
    if form.is_valid() and PagingChannel.objects.filter(user=request.user).count() >= MAX_CHANNELS:
        form.add_error(None, f"You have {MAX_CHANNELS} channels already: remove one first.")
    if not form.is_valid():
        return _invalid(request, channel_form=form)
    with transaction.atomic():
        channel = PagingChannel.objects.create(
            user=request.user, label=form.cleaned_data["label"], url=form.cleaned_data["url"]
        )
        queue_test_message(channel)
    messages.success(request, f"“{channel.label}” is added, and a test message is on its way to it.")
    return redirect("paging_settings")


@login_required
@require_POST
def test_channel(request: SignedInRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(PagingChannel, pk=pk, user=request.user)
    with transaction.atomic():
        queued = queue_test_message(channel)
    if queued:
        messages.success(request, f"A test message is on its way to “{channel.label}”: reload to see how it went.")
    else:
        messages.info(request, f"A test message went to “{channel.label}” this minute already.")
    return redirect("paging_settings")


@login_required
@require_POST
def remove_channel(request: SignedInRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(PagingChannel, pk=pk, user=request.user)
    channel.delete()  # its rules with it; a message still waiting for it fails as "removed"
    messages.success(request, f"“{channel.label}” is removed, and the rules that used it.")
    return redirect("paging_settings")


@login_required
@require_POST
def add_rule(request: SignedInRequest) -> HttpResponse:
    channels = list(PagingChannel.objects.filter(user=request.user))
    form = RuleForm(request.POST, user=request.user, channels=channels)
    count = NotificationRule.objects.filter(user=request.user).count()
    if form.is_valid() and count >= MAX_RULES:
        form.add_error(None, f"You have {MAX_RULES} rules already: remove one first.")
    if not form.is_valid():
        return _invalid(request, rule_form=form)
    rule = form.rule()
    rule.order = count
    rule.save()
    messages.success(request, f"Rule added: {rule.target_label} after {rule.delay_minutes} min.")
    return redirect("paging_settings")


@login_required
@require_POST
def remove_rule(request: SignedInRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(NotificationRule, pk=pk, user=request.user)
    rule.delete()
    messages.success(request, "The rule is removed.")
    return redirect("paging_settings")


@login_required
@require_POST
def quiet_hours(request: SignedInRequest) -> HttpResponse:
    if request.POST.get("action") == "off":
        for quiet in QuietHours.objects.filter(user=request.user):
            quiet.delete()  # one by one: the audit log hears of it
        messages.success(request, "Quiet hours are off: every page reaches you at once.")
        return redirect("paging_settings")
    form = QuietHoursForm(request.POST)
    if not form.is_valid():
        return _invalid(request, quiet_form=form)
    QuietHours.objects.update_or_create(
        user=request.user, defaults={"start": form.cleaned_data["start"], "end": form.cleaned_data["end"]}
    )
    messages.success(request, "Your quiet hours are saved.")
    return redirect("paging_settings")
