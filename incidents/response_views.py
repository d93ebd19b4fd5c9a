"""The response on the incident page: its roles (Incident commander, Communications lead, Scribe…)
and its task list, the forms that change them, and the dashboard's "My roles".

Every action is a plain form that POSTs and redirects back to the incident page (JavaScript off
works the same); the changes themselves are incidents/workflow.py's (`assign_role`, `add_task`,
`tick_task`, `assign_task`). Responders and managers may change them; everyone who may see the
incident sees them. docs/response.md describes the whole.
"""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from incidents import choices, roles, workflow
from incidents.access import get_incident_for, role_required
from incidents.models import TASK_TITLE_MAX, Incident, ResponseRole, RoleAssignment, Status, Task
from incidents.people import display_name

RESPOND = roles.RESPOND_INCIDENT
# Open incidents listed under "My roles" on the dashboard.
MY_ROLES_LIMIT = 20


# --- forms -----------------------------------------------------------------------------


class PersonField(forms.CharField):
    """A username (any case) of an active account; empty means nobody."""

    def __init__(self, **kwargs):
        super().__init__(max_length=150, required=False, **kwargs)

    def clean(self, value):
        username = super().clean(value).strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username__iexact=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is nobody with the username “{username}”.")
        return user


class ExpectedField(forms.CharField):
    """The holder the form was drawn with: a user id, or empty for nobody; absent: not checked."""

    def __init__(self, **kwargs):
        super().__init__(required=False, widget=forms.HiddenInput, **kwargs)

    def clean(self, value):
        value = super().clean(value).strip()
        if value in ("", "none"):
            return None
        if not value.isdigit() or len(value) > 18:
            raise forms.ValidationError("This is not the form Beacon drew; reload the page.")
        return int(value)


class RoleForm(forms.Form):
    role = forms.ModelChoiceField(
        queryset=ResponseRole.objects.all(),
        to_field_name="slug",
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "There is no such role; reload the page.", "required": "Choose a role."},
    )
    person = PersonField(label="Person (username)", help_text="Empty: nobody holds the role.")
    expected = ExpectedField()


class TaskForm(forms.Form):
    title = forms.CharField(label="New task", max_length=TASK_TITLE_MAX)


class TaskChangeForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("tick", "Tick"), ("untick", "Untick"), ("assign", "Assign")],
        error_messages={"invalid_choice": "Tick, untick or assign.", "required": "Tick, untick or assign."},
    )
    person = PersonField(label="Person (username)")
    expected = ExpectedField()


def _refuse(request: HttpRequest, form: forms.Form) -> None:
    """Each error as a message naming its field (the page is redrawn by the redirect)."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        for error in errors:
            label = label or name.capitalize()
            messages.error(request, f"{label}: {error}" if name != "__all__" else error)


def _back(incident: Incident, anchor: str) -> HttpResponse:
    return redirect(incident.get_absolute_url() + f"#{anchor}")


def _act(request: HttpRequest, incident: Incident, anchor: str, action: Callable[[], str]) -> HttpResponse:
    """Run a workflow change; its refusal or its success message (what `action` returns) is shown
    on the incident page at `anchor`. (incidents/views.py has the same for the page's other forms;
    this module cannot import it, views imports this.)"""
    try:
        done = action()
    except workflow.InvalidTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, done)
    return _back(incident, anchor)


def _expected(form: forms.Form):
    return form.cleaned_data["expected"] if "expected" in form.data else workflow.ANY


# --- the panels of the incident page ---------------------------------------------------


def response_context(request: HttpRequest, incident: Incident) -> dict:
    """Roles and tasks of the incident, and whether the user may change them: 2 queries at most
    (the roles themselves come from incidents/choices.py), however many roles and tasks there
    are; none for what the incident is known to have none of."""
    held, tasks = {}, []
    # The incident page's incident says whether there are any (views._page_incident).
    if getattr(incident, "has_roles_held", True):
        held = {a.role_id: a for a in RoleAssignment.objects.filter(incident=incident).select_related("user")}
    if getattr(incident, "has_tasks", True):
        tasks = list(incident.tasks.select_related("assignee", "done_by").order_by("position", "pk"))
    return {
        "roles": [(role, held.get(role.pk)) for role in choices.response_roles()],
        "tasks": tasks,
        "done_count": sum(1 for task in tasks if task.done),
        "open_required": [task for task in tasks if task.required and not task.done],
        "may_manage": workflow.may_manage_response(request.user) and incident.status != Status.CLOSED,
    }


def my_roles(user, visible, open_rows: list[Incident] | None = None) -> list[Incident]:
    """Open incidents (of `visible`, what the user may see) where `user` holds a role, each with
    `my_roles`: 2 queries. Given `open_rows`, every open incident of `visible` already loaded
    (the dashboard's), the incidents are picked from them: 1 query."""
    mine = RoleAssignment.objects.filter(user=user).select_related("role")
    if open_rows is not None:
        held: dict[int, list[RoleAssignment]] = {}
        for assignment in mine.filter(incident_id__in=[incident.pk for incident in open_rows]):
            held.setdefault(assignment.incident_id, []).append(assignment)
        found = [incident for incident in open_rows if incident.pk in held]
        for incident in found:
            incident.my_roles = held[incident.pk]
        return found[:MY_ROLES_LIMIT]
    return list(
        visible.open()
        .for_list()
        .filter(pk__in=RoleAssignment.objects.filter(user=user).values("incident_id"))
        .prefetch_related(Prefetch("role_assignments", queryset=mine, to_attr="my_roles"))
        .order_by("severity_rank", "reported_at", "pk")[:MY_ROLES_LIMIT]
    )


# --- actions: each a POST that ends in a redirect ---------------------------------------


@role_required(RESPOND)
@require_POST
def assign_role(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    form = RoleForm(request.POST)
    if not form.is_valid():
        _refuse(request, form)
        return _back(incident, "roles")
    role, person = form.cleaned_data["role"], form.cleaned_data["person"]

    def assign() -> str:
        workflow.assign_role(incident, by=request.user, role=role, user=person, expected=_expected(form))
        return f"{display_name(person, 'Nobody')} is {role.name} of {incident.ref} now."

    return _act(request, incident, "roles", assign)


@role_required(RESPOND)
@require_POST
def add_task(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    form = TaskForm(request.POST)
    if not form.is_valid():
        _refuse(request, form)
        return _back(incident, "tasks")

    def add() -> str:
        workflow.add_task(incident, by=request.user, title=form.cleaned_data["title"])
        return "Task added."

    return _act(request, incident, "tasks", add)


@role_required(RESPOND)
@require_POST
def change_task(request: HttpRequest, ref: str, task: int) -> HttpResponse:
    """Tick, untick or assign one task of the incident (a task of another incident: 404)."""
    incident = get_incident_for(request, ref)
    found = Task.objects.filter(pk=task, incident=incident).first()
    if found is None:
        raise Http404(f"{incident.ref} has no task {task}")
    form = TaskChangeForm(request.POST)
    if not form.is_valid():
        _refuse(request, form)
        return _back(incident, f"task-{found.pk}")
    action = form.cleaned_data["action"]

    def change() -> str:
        if action == "assign":
            person = form.cleaned_data["person"]
            workflow.assign_task(incident, by=request.user, task=found, user=person, expected=_expected(form))
            return f"“{found.title}” is with {display_name(person)}." if person else f"“{found.title}” is unassigned."
        workflow.tick_task(incident, by=request.user, task=found, done=action == "tick")
        return f"“{found.title}” {'ticked' if action == 'tick' else 'opened again'}."

    return _act(request, incident, f"task-{found.pk}", change)
