from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.timezone import localdate

from incidents.access import NeedToKnowAdmin
from incidents.workflow import InvalidTransition
from reviews import lifecycle
from reviews.models import SECTION_FIELDS, ActionItem, Review, RunbookRevision


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.overdue(localdate())
        if self.value() == "no":
            return queryset.not_overdue(localdate())
        return queryset


class ReviewOverdueFilter(OverdueFilter):
    title = "overdue action items"

    def queryset(self, request, queryset):
        overdue = ActionItem.objects.overdue(localdate()).values("review_id")
        if self.value() == "yes":
            return queryset.filter(pk__in=overdue)
        if self.value() == "no":
            return queryset.exclude(pk__in=overdue)
        return queryset


class ActionItemInline(admin.TabularInline):
    model = ActionItem
    extra = 0
    fields = ["title", "owner", "type", "priority", "due_date", "state"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(NeedToKnowAdmin):
    """Sections may be corrected here; the state changes only on the review page (reviews.lifecycle)."""

    list_display = ["incident", "state", "approver", "created_at", "published_at"]
    list_filter = ["state", ReviewOverdueFilter, ("authors", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["incident", "approver"]
    search_fields = ["incident__title", "summary", "root_cause", "lessons_learned"]
    fields = ["incident", "state", "approver", "published_at", *SECTION_FIELDS, "public_summary"]
    inlines = [ActionItemInline]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["incident", "state", "approver", "published_at", "public_summary"]
        if obj is not None and not obj.is_editable:
            return fixed + SECTION_FIELDS
        return fixed

    def has_add_permission(self, request) -> bool:
        return False  # a review starts from its resolved incident (lifecycle.start)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # return it to draft instead; the timeline refers to it

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in SECTION_FIELDS}
        if changes:
            current = Review.objects.get(pk=obj.pk)
            lifecycle.edit(current, by=request.user, version=current.version, changes=changes)


@admin.register(ActionItem)
class ActionItemAdmin(NeedToKnowAdmin):
    incident_path = "review__incident__"

    list_display = ["title", "review", "owner", "type", "priority", "due_date", "state", "overdue"]
    list_filter = ["state", OverdueFilter, ("owner", admin.RelatedOnlyFieldListFilter), "type", "priority"]
    list_select_related = ["owner", "review__incident"]
    search_fields = ["title", "owner__username"]
    fields = ["review", "title", "owner", "type", "priority", "due_date", "tracker_url", "state", "wont_do_reason"]
    readonly_fields = ["review", "state", "wont_do_reason"]
    actions = ["mark_done"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(boolean=True)
    def overdue(self, item: ActionItem) -> bool:
        return item.is_overdue

    def has_add_permission(self, request) -> bool:
        return False  # items are added on their review

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f in form.cleaned_data}
        lifecycle.edit_action_item(obj, by=request.user, **fields)

    @admin.action(description="Mark the selected action items done")
    def mark_done(self, request, queryset):
        done = 0
        for item in queryset:
            try:
                lifecycle.set_action_item_state(item, by=request.user, state=ActionItem.State.DONE)
                done += 1
            except (InvalidTransition, PermissionDenied) as refusal:
                self.message_user(request, f"{item}: {refusal or 'not allowed'}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} action item(s) marked done.", messages.SUCCESS)


@admin.register(RunbookRevision)
class RunbookRevisionAdmin(NeedToKnowAdmin):
    incident_path = "review__incident__"

    """The runbook history, read-only: edits go through the runbook page (a new revision each)."""

    list_display = ["service", "created_at", "author", "comment", "review"]
    list_filter = ["service"]
    list_select_related = ["service", "author", "review__incident"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
