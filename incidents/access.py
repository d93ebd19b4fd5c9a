"""Who may see what: each rule written once, imported by every view (and by reviews/)."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from incidents import roles
from incidents.models import Incident


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
    incident = queryset.by_ref(ref).first()
    if incident is None:
        raise Http404(f"No incident {ref}")
    return incident
