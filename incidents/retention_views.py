"""The data retention page (/retention/): managers set the policy and see what the next run would
remove, and what the last runs did. The rules are in incidents/retention.py; docs/retention.md."""

import copy

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from incidents import retention, roles
from incidents.access import role_required
from incidents.models import RetentionPolicy, RetentionRun

YEARS = "Enter whole years from 1 to 100, or leave it empty to keep them for ever."
DAYS = "Enter whole days from 1 to 36500{}."


def _numbers(field: forms.Field, message: str) -> None:
    """One plain sentence for every way a number can be wrong (not a number, negative, too big)."""
    for code in ("invalid", "min_value", "max_value", "max_digits", "max_decimal_places", "max_whole_digits"):
        field.error_messages[code] = message
    for validator in field.validators:
        validator.message = message


class RetentionForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = ["incident_years", "restricted_years", "action", "keep_reviews", "delivery_days", "task_days"]
        widgets = {"action": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _numbers(self.fields["incident_years"], YEARS)
        _numbers(self.fields["restricted_years"], YEARS)
        _numbers(self.fields["delivery_days"], DAYS.format(", or leave it empty to keep them for ever"))
        _numbers(self.fields["task_days"], DAYS.format(""))
        self.fields["task_days"].error_messages["required"] = "Say how many days finished task rows are kept."
        self.fields["action"].error_messages["invalid_choice"] = "Choose anonymise or purge."


def _removed(run: RetentionRun) -> list[tuple[str, int]]:
    return [(label, run.counts[kind]) for kind, label in retention.KINDS.items() if run.counts.get(kind)]


@role_required(roles.CHANGE_RETENTION)
@require_http_methods(["GET", "POST"])
def retention_page(request: HttpRequest) -> HttpResponse:
    policy = RetentionPolicy.current()
    # The form writes what it cleaned onto its instance even when invalid: the preview keeps the saved one.
    form = RetentionForm(request.POST or None, instance=copy.copy(policy))
    if request.method == "POST" and form.is_valid():
        form.save()  # the audit log records the change and who made it (incidents/audit.py)
        messages.success(request, "The retention policy is saved. The sweeper applies it once a day.")
        return redirect("retention")
    context = {
        "form": form,
        "preview": retention.preview(policy),
        "runs": [(run, _removed(run)) for run in RetentionRun.objects.all()[:5]],
    }
    return render(request, "incidents/retention.html", context, status=422 if form.is_bound else 200)
