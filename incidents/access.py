"""Who may see what: each rule written once, imported by every view (and by reviews/).

Need-to-know (restricted incidents) is one rule, `incidents.models.access_condition`,
reached through:

- `Incident.objects.visible_to(user)`: every list, count, search and page of incidents;
- `visible_incidents(user)` / `incident_condition(user, prefix)`: the same for rows that point at an
  incident (reviews, action items, notifications in the admin);
- `get_incident_for(request, ref)`: one incident, 404 when it is not visible (not 403: that a
  reference exists is itself information);
- `may_see(user, incident)` and `allowed_user_ids(incident, ids)`: who may be told about it
  (incidents/notifications/outbox.py, reviews' emails, handoff summaries).
"""

from functools import wraps

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest

from incidents import roles
from incidents.models import Incident, access_condition


class SignedInRequest(HttpRequest):
    """For type checkers only: the request of a view behind `role_required` or `login_required`,
    whose user is signed in."""

    user: User


def role_required(perm: str):
    """A view decorator: signed in (else the login page) and holding `perm` (else 403)."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def get_incident_for(request: HttpRequest, ref: str, *, queryset=None) -> Incident:
    """The incident named `ref` (`INC-42`), if this user may see incidents; else 404/403."""
    if not request.user.has_perm(roles.VIEW_INCIDENT):
        raise PermissionDenied
    queryset = queryset if queryset is not None else Incident.objects.for_list()
    incident = queryset.visible_to(request.user).by_ref(ref).first()
    if incident is None:
        raise Http404(f"No incident {ref}")
    return incident


def visible_incidents(user):
    """The incidents `user` may see (None: Beacon's anonymous surfaces, unrestricted ones only)."""
    return Incident.objects.visible_to(user)


def incident_condition(user, prefix: str, *, or_none: bool = False) -> Q:
    """`visible_incidents` as a condition on a model pointing at an incident ("incident__");
    with `or_none`, rows pointing at no incident pass too. An empty Q: every row passes."""
    condition = access_condition(user, prefix)
    if condition and or_none:
        condition |= Q(**{prefix.removesuffix("__") + "__isnull": True})
    return condition


def may_see(user, incident: Incident) -> bool:
    """Whether `user` may see `incident` at all (its role aside): no query unless it is restricted."""
    if user is None or not incident.restricted:
        return not incident.restricted
    if not user.is_active:
        return False
    if user.has_perm(roles.VIEW_RESTRICTED) or user.pk in (incident.reporter_id, incident.lead_id):
        return True
    return incident.participants.filter(pk=user.pk).exists()


def allowed_user_ids(incident: Incident, user_ids: set[int]) -> set[int]:
    """Of `user_ids`, those who may be told about `incident`: all of them unless it is
    restricted; then its reporter, lead, participants and holders of view_restricted_incident.
    One query for a restricted incident, none otherwise."""
    if not incident.restricted or not user_ids:
        return set(user_ids)
    perm = Permission.objects.filter(
        content_type__app_label="incidents", codename=roles.codename(roles.VIEW_RESTRICTED)
    )
    return set(
        get_user_model()
        .objects.filter(pk__in=user_ids, is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__in=perm)
            | Q(user_permissions__in=perm)
            | Q(pk__in=[incident.reporter_id, incident.lead_id])
            | Q(participating_incidents=incident)
        )
        .values_list("pk", flat=True)
        .distinct()
    )


class NeedToKnowAdmin(admin.ModelAdmin):
    """An admin of rows about incidents: those of restricted incidents the user may not see are
    absent (list, search, change page: 404), as everywhere else (incidents/access.py).
    `incident_path` leads from the model to its incident ("" for Incident itself); rows about
    no incident (a null foreign key) stay."""

    incident_path = "incident__"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.filter(incident_condition(request.user, self.incident_path, or_none=bool(self.incident_path)))
