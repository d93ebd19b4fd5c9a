"""Teams: who owns which services, rotations and escalation policies (docs/teams.md).

A team decides defaults ("my teams" on the dashboard, lists, reports, notifications) and who
may configure its rotations, escalation policies and stakeholder lists: its managers. It never
decides who may read an incident: that is the need-to-know rule's business (incidents/access.py).
Membership is kept by managers, or by the identity provider's group claims at every sign-in.
"""

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from incidents.models.core import SlugFromName


class Team(SlugFromName, models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams", blank=True
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """One person in one team; a team manager also configures the team's rotations and policies."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    is_manager = models.BooleanField("team manager", default=False)
    # Where the membership came from: kept by hand, or by the identity provider's group claim
    # (a claim-made membership disappears when the claim does; a hand-made one stays).
    from_identity_provider = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["team", "user"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_once")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
