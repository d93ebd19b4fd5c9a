"""People in Beacon: how they are named everywhere, and who may lead an incident."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from incidents import roles


def display_name(user, fallback: str = "") -> str:
    """A user's full name, else their username; `fallback` when there is nobody."""
    if user is None:
        return fallback
    return user.get_full_name() or user.get_username()


def responders():
    """Active users who may lead incidents (workflow.set_lead's rule, as a queryset): whom the
    lead field, a rotation or an override may name.

    Subqueries, not joins: joining users to groups, group permissions and user permissions and
    then DISTINCT over every user column cost 36 ms of the incident page at 5,000 users
    (bench/results.md); `id IN (...)` needs neither the join nor the DISTINCT.
    """
    User = get_user_model()
    app_label, codename = roles.RESPOND_INCIDENT.split(".", 1)
    permission = Permission.objects.filter(codename=codename, content_type__app_label=app_label)
    groups = Group.permissions.through.objects.filter(permission__in=permission).values("group_id")
    via_group = User.groups.through.objects.filter(group_id__in=groups).values("user_id")
    direct = User.user_permissions.through.objects.filter(permission__in=permission).values("user_id")
    return User.objects.filter(
        Q(is_active=True) & (Q(pk__in=via_group) | Q(pk__in=direct) | Q(is_superuser=True))
    ).order_by("first_name", "username")
