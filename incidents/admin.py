from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.html import format_html

from incidents import roles, workflow
from incidents.access import NeedToKnowAdmin
from incidents.forms import check_occurred_at, check_title, limit_text_fields
from incidents.models import (
    ApiToken,
    ChecklistItem,
    CustomField,
    ExternalIdentity,
    Incident,
    IncidentType,
    Profile,
    ResponseRole,
    ReviewSection,
    Service,
    Team,
    TeamMembership,
    TimelineEntry,
    UpdateTemplate,
)
from incidents.notifications.admin import StakeholderInline
from incidents.update_templates import PLACEHOLDERS, unknown_placeholders


class CustomFieldInline(admin.StackedInline):
    """The type's extra fields (docs/incident-types.md): asked on the report form, the API and
    read from alert labels of the same name."""

    model = CustomField
    extra = 0
    max_num = 20
    fields = [("label", "name"), ("kind", "required", "position"), "help_text", "choices"]


class ReviewSectionInline(admin.TabularInline):
    """Sections the post-incident review of this type must fill in before it is published."""

    model = ReviewSection
    extra = 0
    max_num = 20
    fields = ["title", "name", "guidance", "position"]


class ChecklistInline(admin.TabularInline):
    """The type's response checklist: copied into each new incident of the type as its tasks
    (incidents already reported keep theirs)."""

    model = ChecklistItem
    extra = 1
    fields = ["position", "title", "required"]
    verbose_name = "checklist item"
    verbose_name_plural = "response checklist (copied into each new incident of this type)"


@admin.register(ResponseRole)
class ResponseRoleAdmin(admin.ModelAdmin):
    """The roles an incident can have besides its lead (Incident commander, Communications lead, Scribe)."""

    list_display = ["name", "slug", "position", "description"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}


class UpdateTemplateForm(forms.ModelForm):
    class Meta:
        model = UpdateTemplate
        fields = ["name", "position", "public", "message"]

    def clean_message(self) -> str:
        message = self.cleaned_data["message"]
        unknown = unknown_placeholders(message)
        if unknown:
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            raise forms.ValidationError(
                f"Unknown placeholder{'s' if len(unknown) > 1 else ''}: "
                f"{', '.join(f'{{{name}}}' for name in unknown)}. The placeholders are {known}."
            )
        return message


@admin.register(UpdateTemplate)
class UpdateTemplateAdmin(admin.ModelAdmin):
    """The status update templates responders start from (one per phase: Investigating, Identified…)."""

    form = UpdateTemplateForm
    list_display = ["name", "position", "public", "message"]
    list_editable = ["position"]


@admin.register(IncidentType)
class IncidentTypeAdmin(admin.ModelAdmin):
    """Managers add types (e.g. Data loss) here; the three shipped ones come from a migration."""

    inlines = [CustomFieldInline, ReviewSectionInline, ChecklistInline]

    list_display = ["name", "slug", "default_severity", "restricted_by_default", "position"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # A type in use stays (incidents point at it, on_delete=PROTECT).
        return obj is None or not obj.incidents.exists()


class MembershipInline(admin.TabularInline):
    """The team's members; a team manager configures its rotations, policies and stakeholder lists.
    Memberships the identity provider made are shown but kept by its group claims."""

    model = TeamMembership
    extra = 1
    fields = ["user", "is_manager", "from_identity_provider", "created_at"]
    readonly_fields = ["from_identity_provider", "created_at"]
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Teams (docs/teams.md): also kept on Beacon's own pages at /teams/."""

    list_display = ["name", "slug"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "team", "is_public"]
    list_filter = ["team", "is_public"]
    list_select_related = ["team"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [StakeholderInline]


class TimelineInline(admin.TabularInline):
    """The timeline, read-only: it is append-only everywhere, the admin included."""

    model = TimelineEntry
    extra = 0
    fields = ["created_at", "kind", "author", "text", "data"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class IncidentAdminForm(forms.ModelForm):
    # The version the form was opened at (workflow.edit refuses a stale one), as on the incident page.
    opened_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Incident
        fields = ["type", "title", "service", "description", "impact", "logs", "occurred_at", "public"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.pk:
            self.initial["opened_version"] = self.instance.version
        limit_text_fields(self)

    def clean_title(self) -> str:
        return check_title(self.cleaned_data["title"])

    def clean_occurred_at(self):
        value = self.cleaned_data["occurred_at"]
        if value == self.instance.occurred_at:
            return value  # unchanged: an old odd value must not block other edits
        return check_occurred_at(value)

    def clean(self):
        data = super().clean()
        current = Incident.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
        if data.get("opened_version") is not None and current != data["opened_version"]:
            raise forms.ValidationError(
                f"{self.instance.ref} was changed since you opened it. Reload the page to see its current values."
            )
        return data


@admin.register(Incident)
class IncidentAdmin(NeedToKnowAdmin):
    incident_path = ""
    form = IncidentAdminForm
    list_display = ["ref", "title", "type", "severity", "status", "service", "lead", "restricted", "reported_at"]
    list_filter = ["type", "restricted", "severity", "status", "service", "source"]
    list_select_related = ["service", "lead", "type"]
    search_fields = ["title", "description"]
    date_hierarchy = "reported_at"
    ordering = ["-reported_at"]
    raw_id_fields = ["reporter"]
    # status, severity, lead and the lifecycle timestamps change only through workflow.py.
    fields = [
        "type",
        "restricted",
        "title",
        "service",
        "description",
        "impact",
        "logs",
        "occurred_at",
        "public",
        "reporter",
        "opened_version",
    ]
    # Restricting is done on the incident page, with a reason (workflow.restrict).
    readonly_fields = ["reporter", "restricted"]
    inlines = [TimelineInline]
    actions = ["close_selected"]

    @admin.display(description="Reference", ordering="pk")
    def ref(self, incident: Incident) -> str:
        return incident.ref

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        by_ref = self.get_queryset(request).by_ref(search_term)
        if search_term and by_ref.exists():
            queryset |= by_ref
        return queryset, may_have_duplicates

    def has_add_permission(self, request) -> bool:
        # New incidents come through the report form, the API or Alertmanager (workflow.report).
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # An incident is a record: its timeline is the audit trail. Close it instead.
        return False

    def save_model(self, request, obj, form, change):
        # Through the workflow, like every other change: a timeline entry each, and the form's
        # version guards against overwriting someone else's edit.
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in workflow.REPORT_FIELDS}
        if changes:
            workflow.edit(obj, by=request.user, version=form.cleaned_data["opened_version"], changes=changes)
        if "public" in form.changed_data:
            workflow.set_public(obj, by=request.user, public=form.cleaned_data["public"])

    @admin.action(description="Close the selected resolved incidents", permissions=["close"])
    def close_selected(self, request, queryset):
        closed = 0
        for incident in queryset:
            try:
                workflow.close(incident, by=request.user)
                closed += 1
            except (workflow.InvalidTransition, PermissionDenied) as refusal:
                # format_html keeps a refusal's safe link (the close policy's) and escapes the rest.
                reason = refusal.args[0] if refusal.args else "not allowed"
                self.message_user(request, format_html("{}: {}", incident.ref, reason), messages.WARNING)
        if closed:
            self.message_user(request, f"Closed {closed} incident(s).", messages.SUCCESS)

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm(roles.CLOSE_INCIDENT)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "time_zone", "email_notifications", "slack_member_id"]
    search_fields = ["user__username", "user__email"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Everyone's personal API tokens, for managers to see and revoke.

    Users make their own at /accounts/tokens/ (the secret is shown to them once); here a
    token can only be revoked, never read or made, so its owner stays accountable for it.
    """

    list_display = ["name", "user", "token_hint", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "token_hint"]
    fields = ["name", "user", "token_hint", "is_active", "created_at", "last_used_at"]
    readonly_fields = ["name", "user", "token_hint", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # A revoked token stays listed: who had access, and when it was last used.
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for token in queryset.filter(is_active=True):
            token.is_active = False
            token.save(update_fields=["is_active"])  # one by one: the audit log records each
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


# The admin of each area lives in its own package; Django only discovers incidents.admin.
from incidents.alerts import admin as alerts_admin  # noqa: E402, F401, I001
from incidents.api import admin as api_admin  # noqa: E402, F401, I001
from incidents.notifications import admin as notifications_admin  # noqa: E402, F401, I001
from incidents.oncall import admin as oncall_admin  # noqa: E402, F401, I001


# --- people: managers give roles and switch accounts on or off; nothing more -------------

User = get_user_model()
# What only a superuser may touch: these would let a manager lift anyone, themselves included,
# above the Manager role.
SUPERUSER_ONLY_FIELDS = ("is_superuser", "is_staff", "user_permissions")


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """Who each single sign-on account is at the identity provider (docs/sso.md). Deleting a row
    unlinks the account (its next sign-in links again only by a verified address); adding one links
    an account to a subject a manager looked up at the provider."""

    list_display = ["user", "subject", "issuer", "last_sign_in_at"]
    search_fields = ["user__username", "user__email", "subject"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "last_sign_in_at"]


class BeaconUserAdmin(UserAdmin):
    """Django's user admin, with superuser flags and raw permissions kept for superusers.

    A manager sees those fields read-only, gives roles (groups) and turns accounts on or
    off; a superuser's account is read-only to them (its password included).
    """

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser or obj is None:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "user_permissions"]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_superuser", "is_staff"]
        return readonly

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


class BeaconGroupAdmin(GroupAdmin):
    """The roles. Their permission lists are Beacon's design (incidents/roles.py): a manager
    reads them; only a superuser changes them (otherwise a manager could grant any permission)."""

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)


admin.site.unregister(User)
admin.site.register(User, BeaconUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, BeaconGroupAdmin)
