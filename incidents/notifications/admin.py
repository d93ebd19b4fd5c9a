"""Admin for notifications: stakeholder lists on services, status page subscribers, outgoing
webhooks, and the outbox with its failures.

Managers keep each service's stakeholder list (users and outside email addresses) on the
service's admin page, register outgoing webhooks (docs/webhooks-out.md), and see failed
deliveries (a permanent error: an address the mail server refuses, a deleted Slack webhook, a
webhook answering 410) with a "retry now" action.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html

from incidents.access import NeedToKnowAdmin
from incidents.models import Notification, StatusSubscriber, Subscription, Webhook
from incidents.models.webhooks import Event
from incidents.notifications import delivery


class StakeholderInline(admin.TabularInline):
    """The service's stakeholder list: users who follow it and outside addresses."""

    model = Subscription
    fk_name = "service"
    fields = ["user", "email", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]
    extra = 1
    verbose_name = "stakeholder"
    verbose_name_plural = "stakeholders (outside addresses receive public updates only)"


@admin.register(Subscription)
class SubscriptionAdmin(NeedToKnowAdmin):
    list_display = ["__str__", "user", "email", "incident", "service", "min_severity", "created_at"]
    list_filter = ["service", "min_severity"]
    list_select_related = ["user", "incident", "service"]
    search_fields = ["email", "user__username", "user__email"]
    raw_id_fields = ["user", "incident"]


@admin.register(StatusSubscriber)
class StatusSubscriberAdmin(admin.ModelAdmin):
    """Who asked for email updates on the status page and confirmed it. Added only through the
    confirmed link (double opt-in): managers may look and remove, not add; the stakeholder list of
    a service is where managers put addresses themselves."""

    list_display = ["email", "all_services", "confirmed_at"]
    list_filter = ["all_services", "services"]
    search_fields = ["email"]
    filter_horizontal = ["services"]
    readonly_fields = ["email", "confirmed_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(NeedToKnowAdmin):
    list_display = [
        "created_at",
        "channel",
        "recipient",
        "subject_or_key",
        "state",
        "attempts",
        "permanent_error",
        "last_error",
    ]
    list_filter = ["state", "permanent_error", "channel", "audience"]
    list_select_related = ["incident"]
    search_fields = ["recipient", "event_key", "subject"]
    date_hierarchy = "created_at"
    actions = ["retry_now"]
    # The outbox is written by notifications.py and delivery.py only.
    readonly_fields = [f.name for f in Notification._meta.fields]

    @admin.display(description="Message")
    def subject_or_key(self, row: Notification) -> str:
        return row.subject or row.event_key

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Retry the selected failed deliveries now", permissions=["view"])
    def retry_now(self, request, queryset):
        count = delivery.retry_now(queryset)
        self.message_user(request, f"{count} failed deliveries queued again.", messages.SUCCESS)


class WebhookAdminForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What this URL hears. A resolve is also a status change: pick both and it gets both.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "events", "include_restricted", "is_active"]


def _show_secret(request, hook: Webhook, secret: str, verb: str) -> None:
    # Shown only here; Beacon keeps it to sign with, and no page shows it again.
    messages.warning(
        request,
        format_html(
            "{} “{}”. Its signing secret, shown only this once — give it to the receiver now "
            "(docs/webhooks-out.md says how to check the signature): <code class='user-select-all'>{}</code>",
            verb,
            hook.name,
            secret,
        ),
    )


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Outgoing webhooks: the URL, the events it hears, whether it hears restricted incidents. The
    secret is made on creation and on rotation and shown once; lists and forms never show it."""

    form = WebhookAdminForm
    list_display = ["name", "url", "event_list", "include_restricted", "is_active", "secret_hint", "deliveries"]
    list_filter = ["is_active", "include_restricted"]
    search_fields = ["name", "url"]
    readonly_fields = ["secret_hint", "created_at", "deliveries"]
    actions = ["rotate_secret", "disable"]

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "events", "include_restricted", "is_active"]
        return fields if obj is None else [*fields, "secret_hint", "created_at", "deliveries"]

    @admin.display(description="Events")
    def event_list(self, hook: Webhook) -> str:
        return ", ".join(hook.events or [])

    @admin.display(description="Deliveries")
    def deliveries(self, hook: Webhook) -> str:
        """A link to its rows in the outbox (failed ones first to look at)."""
        if hook.pk is None:
            return ""
        url = reverse("admin:incidents_notification_changelist")
        return format_html(
            '<a href="{}?{}">all</a> · <a href="{}?{}">failed</a>',
            url,
            urlencode({"channel__exact": "webhook", "recipient": hook.destination}),
            url,
            urlencode({"channel__exact": "webhook", "recipient": hook.destination, "state__exact": "failed"}),
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        secret = obj.set_new_secret()
        super().save_model(request, obj, form, change)
        _show_secret(request, obj, secret, "Created the webhook")

    @admin.action(description="Rotate the secret of the selected webhooks (the old one stops signing at once)")
    def rotate_secret(self, request, queryset):
        for hook in queryset:
            with transaction.atomic():
                secret = hook.set_new_secret()
                hook.save(update_fields=["secret", "secret_hint"])
            _show_secret(request, hook, secret, "New secret for")

    @admin.action(description="Disable the selected webhooks (their pending deliveries fail)")
    def disable(self, request, queryset):
        count = 0
        for hook in queryset.filter(is_active=True):
            hook.is_active = False
            hook.save(update_fields=["is_active"])  # one by one: the audit log records each
            count += 1
        self.message_user(request, f"Disabled {count} webhook(s).", messages.SUCCESS)
