"""People in Beacon: how they are named everywhere, and who may lead an incident."""

from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models import Q

from incidents import choices, roles


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


def responder_choices() -> list[tuple[int, str]]:
    """(id, display name) of every user `responders()` returns, in its order: the lead select's
    options, kept in the cache (incidents/choices.py); a submitted lead is always checked against
    `responders()` itself."""
    return choices.cached(
        "responders",
        lambda: [(user.pk, display_name(user)) for user in responders().only("first_name", "last_name", "username")],
    )


# --- permissions in one query -----------------------------------------------------------


@lru_cache(maxsize=1)
def _permissions_sql() -> str:
    User = get_user_model()
    groups, direct = User._meta.get_field("groups"), User._meta.get_field("user_permissions")
    group_permissions = Group._meta.get_field("permissions")
    q = connection.ops.quote_name
    content_type = Permission._meta.get_field("content_type").related_model._meta.db_table
    return (
        f"SELECT ct.{q('app_label')}, p.{q('codename')} FROM {q(Permission._meta.db_table)} p"
        f" JOIN {q(content_type)} ct ON ct.{q('id')} = p.{q('content_type_id')}"
        f" WHERE p.{q('id')} IN (SELECT {q(direct.m2m_reverse_name())} FROM {q(direct.m2m_db_table())}"
        f" WHERE {q(direct.m2m_column_name())} = %s)"
        f" OR p.{q('id')} IN (SELECT gp.{q(group_permissions.m2m_reverse_name())}"
        f" FROM {q(group_permissions.m2m_db_table())} gp JOIN {q(groups.m2m_db_table())} ug"
        f" ON ug.{q(groups.m2m_reverse_name())} = gp.{q(group_permissions.m2m_column_name())}"
        f" WHERE ug.{q(groups.m2m_column_name())} = %s)"
    )


class _Permissions(AbstractSet):
    """A user's permission names ("app_label.codename"), read in one query the first time they
    are asked for; a request that checks none reads none."""

    def __init__(self, user) -> None:
        self._user = user
        self._names: set[str] | None = None

    def _loaded(self) -> set[str]:
        if self._names is None:
            with connection.cursor() as cursor:
                cursor.execute(_permissions_sql(), [self._user.pk, self._user.pk])
                self._names = {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}
        return self._names

    def __contains__(self, name) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def load_permissions(user) -> None:
    """Give a signed-in `user` the permission cache Django's ModelBackend keeps on the user for
    the request (`_perm_cache`), filled by one query on first use where Django would make two:
    one round trip less on every signed-in page (UserTimezoneMiddleware calls this). Nothing
    outlives the request: a permission taken away counts from the next one. Superusers and
    inactive accounts are left to Django, which answers them without a query."""
    if not user.is_active or user.is_superuser or hasattr(user, "_perm_cache"):
        return
    user._perm_cache = _Permissions(user)
