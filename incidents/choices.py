"""Short reference lists that pages draw as select options: services, teams, incident types, who
may lead, and the status update templates' phases; the reference data the incident page
shows on every view: the response roles and each type's custom fields; and who is in which team,
which the dashboard, the incident list and /reports/ ask on every view (the "my teams" default). Reading them on every
page was a query (and the ORM work to build it) each, for lists that change a few times a year;
they are kept in Django's cache instead.

Only what a select shows is cached. What a form accepts is always checked against the database
(the fields keep their querysets), so a list a moment old can show a stale option, never let a
stale one through. Each list is dropped at once by any change that can alter it, and again when
the change commits (signals, connected in IncidentsConfig.ready); in a per-process memory cache
another process may show the old list for up to CACHE_SECONDS (CACHE_URL=redis://… shares one
copy, so the drop reaches every process).

Other areas keep their own reference data the same way (`cached`, and `keep_fresh` in their
ready()): the dashboard's maintenance card and on-call board, the escalation policies.
"""

from collections.abc import Callable
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from incidents.models import (
    CustomField,
    IncidentType,
    ResponseRole,
    Service,
    Team,
    TeamMembership,
    UpdateTemplate,
)

T = TypeVar("T")

CACHE_SECONDS = 60
KEY = "choices:{}"


def cached(name: str, build: Callable[[], T]) -> T:
    """The list (or mapping) `name`, from the cache, else built (and kept)."""
    key = KEY.format(name)
    found = cache.get(key)
    if found is None:
        found = build()
        cache.set(key, found, CACHE_SECONDS)
    return found


def forget(name: str) -> Callable[..., None]:
    """A signal receiver that drops the list `name` now, and again when the change commits: a page
    built in between, from the rows as they were before the change, must not be kept a minute."""

    def drop() -> None:
        cache.delete(KEY.format(name))

    def receiver(**kwargs) -> None:
        drop()
        transaction.on_commit(drop)

    receiver.__name__ = f"forget_{name}"
    return receiver


def services() -> list[tuple[str, str]]:
    """(slug, name) of every service, by name: the service filters' options."""
    return cached("services", lambda: list(Service.objects.order_by("name").values_list("slug", "name")))


def teams() -> list[tuple[str, str]]:
    """(slug, name) of every team, by name: the team filter's options."""
    return cached("teams", lambda: list(Team.objects.order_by("name").values_list("slug", "name")))


def team_memberships() -> dict[int, tuple[tuple[int, str], ...]]:
    """user id -> ((team id, team name), ...) by name: whose "my teams" is which
    (incidents/teams.py). A default, never access: a moment-old answer shows a moment-old default."""

    def build() -> dict[int, tuple[tuple[int, str], ...]]:
        found: dict[int, list[tuple[int, str]]] = {}
        rows = TeamMembership.objects.order_by("team__name").values_list("user_id", "team_id", "team__name")
        for user_id, team_id, name in rows:
            found.setdefault(user_id, []).append((team_id, name))
        return {user_id: tuple(teams) for user_id, teams in found.items()}

    return cached("team_memberships", build)


def incident_types() -> list[tuple[str, str]]:
    """(slug, name) of every incident type, in their order: the type filters' options."""
    return cached("types", lambda: list(IncidentType.objects.order_by("position", "name").values_list("slug", "name")))


def response_roles() -> list[ResponseRole]:
    """Every response role, in their order: the roles panel of the incident page. An assignment
    posted from it is checked against the database (RoleForm's queryset)."""
    return cached("response_roles", lambda: list(ResponseRole.objects.order_by("position", "name")))


def custom_fields(incident_type_id: int | None) -> list[CustomField]:
    """The custom field definitions of a type, in order, as the incident page shows its values.
    The forms that take values read the definitions from the database (incidents/typefields.py)."""

    def by_type() -> dict[int, list[CustomField]]:
        found: dict[int, list[CustomField]] = {}
        for definition in CustomField.objects.order_by("type_id", "position", "pk"):
            found.setdefault(definition.type_id, []).append(definition)
        return found

    return cached("custom_fields", by_type).get(incident_type_id or 0, [])


def keep_fresh(name: str, *models, through=()) -> None:
    """Drop the list `name` (`forget`) on any save or delete of a row of `models`, and on any
    change to the many-to-many tables `through`. For this module's lists and any other area's
    `cached` copies; called from an app's ready()."""
    receiver = forget(name)
    for model in models:
        for signal, when in ((post_save, "save"), (post_delete, "delete")):
            uid = f"choices.{name}.{model._meta.label}.{when}"
            signal.connect(receiver, sender=model, weak=False, dispatch_uid=uid)
    for table in through:
        m2m_changed.connect(receiver, sender=table, weak=False, dispatch_uid=f"choices.{name}.{table._meta.label}")


def connect_signals() -> None:
    keep_fresh("services", Service)
    keep_fresh("types", IncidentType)
    keep_fresh("update_templates", UpdateTemplate)
    keep_fresh("response_roles", ResponseRole)
    # A type deleted deletes its fields: each one's post_delete comes too.
    keep_fresh("custom_fields", CustomField)
    # A team renamed or deleted changes both lists; a membership (by hand or by the identity
    # provider's groups at sign-in) changes who is in which.
    keep_fresh("teams", Team)
    keep_fresh("team_memberships", Team, TeamMembership)
    # Who may lead (incidents.people.responder_choices): accounts, groups and permissions.
    User = get_user_model()
    keep_fresh(
        "responders",
        User,
        Group,
        Permission,
        through=(User.groups.through, User.user_permissions.through, Group.permissions.through),
    )
