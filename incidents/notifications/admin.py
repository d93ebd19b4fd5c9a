"""Admin for notifications: stakeholder lists on services, status page subscribers, and the
outbox with its failures.

Managers keep each service's stakeholder list (users and outside email addresses) on the
service's admin page, and see failed deliveries (a permanent error: an address the mail
server refuses, a deleted Slack webhook) with a "retry now" action.
"""

from django.contrib import admin, messages

from incidents.access import NeedToKnowAdmin
from incidents.models import Notification, StatusSubscriber, Subscription
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
