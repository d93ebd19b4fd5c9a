"""Rotations and overrides in the admin (managers), the same rules as the on-call pages."""

from django.contrib import admin

from incidents.models import Handoff, Override, Rotation, RotationMember
from incidents.oncall import paging


class MemberInline(admin.TabularInline):
    model = RotationMember
    extra = 1
    ordering = ["position"]
    autocomplete_fields = ["user"]


class OverrideInline(admin.TabularInline):
    model = Override
    fk_name = "rotation"
    extra = 0
    fields = ["user", "covered_user", "start", "end", "reason"]
    autocomplete_fields = ["user", "covered_user"]


@admin.register(Rotation)
class RotationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "team",
        "is_default",
        "shift_kind",
        "shift_hours",
        "handoff_time",
        "time_zone",
        "start_date",
    ]
    list_filter = ["team", "is_default", "shift_kind"]
    list_select_related = ["team"]
    search_fields = ["name"]
    filter_horizontal = ["services"]
    inlines = [MemberInline, OverrideInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The handoff chain follows the schedule as it is now (older tasks find theirs stale).
        paging.schedule_next_handoff(form.instance)


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin):
    list_display = ["rotation", "user", "covered_user", "start", "end", "reason"]
    list_filter = ["rotation"]
    list_select_related = ["rotation", "user", "covered_user"]
    autocomplete_fields = ["user", "covered_user"]
    date_hierarchy = "start"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        paging.schedule_next_handoff(obj.rotation)


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    """What each incoming engineer was told; written by the handoff task only."""

    list_display = ["rotation", "at", "incoming", "outgoing", "subject"]
    list_filter = ["rotation"]
    list_select_related = ["rotation", "incoming", "outgoing"]
    readonly_fields = ["rotation", "at", "incoming", "outgoing", "subject", "text", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
