"""Admin for webhook mappings (managers): which field of a sender's JSON body gives which part
of an incident, checked as it is saved, and a "try it" box that reads a pasted body through
the mapping as typed, writing nothing.

Imported by incidents/admin.py so that the admin's autodiscovery finds it.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from incidents.alerts import webhook
from incidents.inbound import MAX_BODY_BYTES
from incidents.models import WebhookMapping

# The mapping's text fields check_mapping reads, besides the default service.
CHECKED = [
    "title",
    "description",
    "severity",
    "severity_map",
    "default_severity",
    "service",
    "dedup_key",
    "resolve_when",
    "resolve_values",
]


class WebhookMappingForm(forms.ModelForm):
    """Checks the selectors, the severity map and the resolve condition together, and says
    what is wrong at the field that is."""

    class Meta:
        model = WebhookMapping
        fields = [
            "integration",
            "title",
            "description",
            "service",
            "default_service",
            "severity",
            "severity_map",
            "default_severity",
            "dedup_key",
            "resolve_when",
            "resolve_values",
        ]
        widgets = {"severity_map": forms.Textarea(attrs={"rows": 4, "cols": 40})}

    rules: webhook.Rules | None = None

    def clean(self):
        data = super().clean()
        service = data.get("default_service")
        try:
            self.rules = webhook.check_mapping(
                **{name: data.get(name) or "" for name in CHECKED}, default_service=service.name if service else ""
            )
        except webhook.MappingError as error:
            self.rules = None
            for name, message in error.errors.items():
                if name not in self.errors:  # a field's own error (too long, a bad choice) comes first
                    self.add_error(name, message)
        return data


@admin.register(WebhookMapping)
class WebhookMappingAdmin(admin.ModelAdmin):
    form = WebhookMappingForm
    list_display = ["integration", "title", "dedup_key", "resolve_when", "updated_at"]
    search_fields = ["integration__name"]
    list_select_related = ["integration"]
    fieldsets = [
        (None, {"fields": ["integration"]}),
        ("The incident", {"fields": ["title", "description", "service", "default_service"]}),
        ("Severity", {"fields": ["severity", "severity_map", "default_severity"]}),
        ("Grouping and resolving", {"fields": ["dedup_key", "resolve_when", "resolve_values"]}),
    ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_try" in request.POST:
            return self.try_it(request, object_id, form_url)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def try_it(self, request: HttpRequest, object_id: str | None, form_url: str) -> HttpResponse:
        """The change form again, as typed, with what the pasted body would do: nothing saved."""
        add = object_id is None
        obj = None if add else self.get_object(request, unquote(object_id))
        if not add and obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        allowed = self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        if not allowed:
            raise PermissionDenied
        form = self.get_form(request, obj, change=not add)(request.POST, instance=obj)
        body = request.POST.get("try_payload", "")
        trial = None
        if not body.strip():
            trial = webhook.Trial(errors=[{"field": "body", "selector": "", "message": "Paste a body to try."}])
        elif len(body.encode()) > MAX_BODY_BYTES:
            trial = webhook.Trial(
                errors=[
                    {"field": "body", "selector": "", "message": f"The body is larger than {MAX_BODY_BYTES} bytes."}
                ]
            )
        elif form.is_valid() and form.rules is not None:
            trial = webhook.try_body(form.rules, body, form.cleaned_data.get("integration"))
        admin_form = helpers.AdminForm(
            form,
            list(self.get_fieldsets(request, obj)),
            {},
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": ("Add %s" if add else "Change %s") % self.opts.verbose_name,
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "try_payload": body,
            "trial": trial,
            "tried": True,
        }
        return self.render_change_form(request, context, add=add, change=not add, obj=obj, form_url=form_url)
