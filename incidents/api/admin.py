"""Admin for inbound integrations (managers): create one and see its token once, rotate, disable.

Imported by incidents/admin.py so that the admin's autodiscovery finds it.
"""

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from incidents.models import Heartbeat, Integration


class HeartbeatInline(admin.StackedInline):
    model = Heartbeat
    extra = 0
    max_num = 1
    fields = ["alertname", "window", "is_active", "last_seen_at", "silent_incident"]
    readonly_fields = ["last_seen_at", "silent_incident"]
    verbose_name = "heartbeat (dead man's switch)"
    verbose_name_plural = "heartbeat (dead man's switch): started by the first heartbeat when not set here"


# Where each kind of sender keeps the token (the API client's is the caller's business).
WHERE_IT_GOES = {
    Integration.Kind.WEBHOOK: "in the sender's Authorization: Bearer header (and map its body in Webhook mappings)",
}


def _show_token(request, integration: Integration, token: str, verb: str) -> None:
    # Only the hash is stored: this message is the one time anybody sees the token.
    messages.warning(
        request,
        format_html(
            "{} “{}”. Its token, shown only this once — put it {} now: <code class='user-select-all'>{}</code>",
            verb,
            integration.name,
            WHERE_IT_GOES.get(integration.kind, "in Alertmanager's credentials_file"),
            token,
        ),
    )


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active", "token_hint", "created_at", "last_used_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    fields = ["name", "kind", "is_active", "default_incident_type", "token_hint", "created_at", "last_used_at"]
    readonly_fields = ["token_hint", "created_at", "last_used_at"]
    inlines = [HeartbeatInline]
    actions = ["rotate_token", "disable"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token = obj.set_new_token()
        super().save_model(request, obj, form, change)
        _show_token(request, obj, token, "Created")

    @admin.action(description="Rotate the token of the selected integrations (the old one stops working)")
    def rotate_token(self, request, queryset):
        for integration in queryset:
            with transaction.atomic():
                token = integration.set_new_token()
                integration.save(update_fields=["token_hash", "token_hint"])
            _show_token(request, integration, token, "New token for")

    @admin.action(description="Disable the selected integrations (their requests get 401)")
    def disable(self, request, queryset):
        count = 0
        for integration in queryset.filter(is_active=True):
            integration.is_active = False
            integration.save(update_fields=["is_active"])  # one by one: the audit log records each
            count += 1
        self.message_user(request, f"Disabled {count} integration(s).", messages.SUCCESS)
