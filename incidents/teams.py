"""Teams as rules (docs/teams.md): who may configure a team's things, and the "my teams" default.

Two rules, each written once:

- `may_configure(user, team)`: global managers (the Manager role, `roles.CHANGE_TEAM`) configure
  every team and what belongs to no team; a team's managers (TeamMembership.is_manager) configure
  their own team's members, rotations, escalation policies and stakeholder lists, not other
  teams'. Every page and form that changes such a thing asks this, and nothing else.
- `Scope` ("my teams" or "everything"): which incidents the dashboard, the incident list and
  /reports/ show first. A choice of default, never of access: "everything" is one click away
  (`?teams=all`), remembered in the session so that the click sticks, and a user in no team sees
  everything as before. The API's default stays everything (`?team=<slug>` narrows it).
"""

from dataclasses import dataclass

from django.db.models import Q

from incidents import choices, roles
from incidents.models import Team, TeamMembership

MINE = "mine"
ALL = "all"
# The session key that remembers the last choice (a signed-in page's session, no extra query).
SESSION_KEY = "beacon_teams_scope"


def may_configure(user, team: Team | None) -> bool:
    """Whether `user` may change `team`'s members, rotations, escalation policies and stakeholder
    lists. What belongs to no team (`team` None) is for global managers only. One query for a
    team manager; none for a global manager or someone without a role."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(roles.CHANGE_TEAM):
        return True
    if team is None or not user.has_perm(roles.VIEW_INCIDENT):
        # A team manager still needs a role: a deactivated role is not kept alive by a team.
        return False
    return TeamMembership.objects.filter(team=team, user=user, is_manager=True).exists()


def configurable_teams(user):
    """The teams `user` may configure (`may_configure`), as a queryset: every team for a global
    manager, the teams they manage for a team manager, none for anyone else."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Team.objects.none()
    if user.has_perm(roles.CHANGE_TEAM):
        return Team.objects.all()
    if not user.has_perm(roles.VIEW_INCIDENT):
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user, memberships__is_manager=True)


@dataclass(frozen=True)
class Scope:
    """What a page shows first: `mine` (the user's teams, `teams` their (pk, name) pairs) or
    everything. A user in no team always gets everything."""

    mine: bool
    teams: tuple[tuple[int, str], ...]
    user_id: int | None = None

    @property
    def value(self) -> str:
        return MINE if self.mine else ALL

    @property
    def team_ids(self) -> list[int] | None:
        """The teams to narrow to, or None for everything."""
        return [pk for pk, _ in self.teams] if self.mine else None

    def condition(self, prefix: str = "") -> Q:
        """Incidents (or rows through `prefix`, e.g. "incident__") of the user's teams' services,
        those of no team (an incident nobody owns must not fall between the teams) and those the
        user leads. An empty Q (everything) when the scope is everything."""
        if not self.mine:
            return Q()
        ids = [pk for pk, _ in self.teams]
        return (
            Q(**{f"{prefix}service__team__in": ids})
            | Q(**{f"{prefix}service__team__isnull": True})
            | Q(**{f"{prefix}lead_id": self.user_id})
        )

    def apply(self, queryset, prefix: str = ""):
        return queryset.filter(self.condition(prefix)) if self.mine else queryset


def my_teams(user) -> tuple[tuple[int, str], ...]:
    """(pk, name) of the teams `user` is in, by name: from the cached memberships
    (incidents/choices.py), no query on most requests."""
    if user is None or not user.is_authenticated:
        return ()
    return choices.team_memberships().get(user.pk, ())


def scope(request) -> Scope:
    """The scope of this request: `?teams=mine|all` when given (and remembered in the session),
    else the remembered choice, else "my teams" for a member of a team. Any other value of
    `teams` is ignored, the remembered choice kept (a hand-edited address never breaks a page)."""
    teams = my_teams(request.user)
    asked = request.GET.get("teams")
    session = getattr(request, "session", None)
    if asked in (MINE, ALL):
        if session is not None and session.get(SESSION_KEY) != asked:
            session[SESSION_KEY] = asked
        chosen = asked
    else:
        chosen = session.get(SESSION_KEY, MINE) if session is not None else MINE
    return Scope(mine=chosen == MINE and bool(teams), teams=teams, user_id=request.user.pk)


def scope_context(request, scope: Scope) -> dict:
    """What templates/_teams_scope.html draws: the two links, each keeping the page's other
    parameters (a filtered list stays filtered) and going back to its first page. Empty for a user
    in no team: there is nothing to choose."""
    if not scope.teams:
        return {}
    links = {}
    for value in (MINE, ALL):
        query = request.GET.copy()
        query.pop("page", None)
        query["teams"] = value
        links[value] = f"{request.path}?{query.urlencode()}"
    return {"team_scope": scope, "teams_mine_url": links[MINE], "teams_all_url": links[ALL]}
