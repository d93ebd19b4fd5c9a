"""People in Beacon: how they are named everywhere, and who may lead an incident."""

from django.contrib.auth import get_user_model
from django.db.models import Q

from incidents import roles


def display_name(user, fallback: str = "") -> str:
    """A user's full name, else their username; `fallback` when there is nobody."""
    if user is None:
        return fallback
    return user.get_full_name() or user.get_username()


def responders():
    """Active users who may lead incidents (workflow.set_lead's rule, as a queryset): whom the
    lead field, a rotation or an override may name."""
    respond = roles.codename(roles.RESPOND_INCIDENT)
    perm = Q(groups__permissions__codename=respond) | Q(user_permissions__codename=respond)
    return (
        get_user_model()
        .objects.filter(Q(is_active=True) & (perm | Q(is_superuser=True)))
        .distinct()
        .order_by("first_name", "username")
    )
