"""The teams pages (docs/teams.md): every team with its services and members, a team's page, and
the changes: global managers create teams; a team's managers (and global managers) add, promote
and remove its members. Who may change what is `incidents.teams.may_configure`, asked once per
view. Everyone with a role reads: teams decide defaults and who configures, never who may read.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST, require_safe

from incidents import roles
from incidents.access import role_required
from incidents.models import Rotation, Service, Team, TeamMembership
from incidents.teams import may_configure


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        slug = slugify(name)[:100]
        if not slug:
            raise forms.ValidationError("Give the team a name with at least one letter or digit.")
        if Team.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"A team with the address “{slug}” exists already; choose another name.")
        return name


class MemberForm(forms.Form):
    username = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
    )
    is_manager = forms.BooleanField(
        label="Team manager (configures this team's rotations, policies and stakeholder lists)", required=False
    )

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user is called “{name}”.")
        return user


@role_required(roles.VIEW_INCIDENT)
@require_safe
def team_list(request: HttpRequest) -> HttpResponse:
    """Every team, the user's first, with counts (one query for the teams, one for the user's)."""
    teams = list(
        Team.objects.annotate(
            member_count=Count("memberships", distinct=True), service_count=Count("services", distinct=True)
        ).order_by("name")
    )
    mine = dict(TeamMembership.objects.filter(user=request.user).values_list("team_id", "is_manager"))
    for team in teams:
        team.mine = team.pk in mine
        team.managed = mine.get(team.pk, False)
    teams.sort(key=lambda t: not t.mine)  # stable: by name within each half
    context = {"teams": teams, "may_create": request.user.has_perm(roles.ADD_TEAM)}
    if context["may_create"]:
        context["form"] = TeamForm()
    return render(request, "teams/list.html", context)


@role_required(roles.ADD_TEAM)
@require_POST
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("teams:list")
    try:
        with transaction.atomic():
            team = form.save()
    except IntegrityError:  # the same name, created at the same moment by someone else
        messages.error(request, "A team with this name exists already; choose another name.")
        return redirect("teams:list")
    messages.success(request, f"Team “{team.name}” created. Add its members and give it services.")
    return redirect("teams:detail", slug=team.slug)


@role_required(roles.VIEW_INCIDENT)
@require_safe
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One team: its members (managers first), services and rotations, in four queries."""
    team = get_object_or_404(
        Team.objects.prefetch_related(
            Prefetch(
                "memberships",
                queryset=TeamMembership.objects.select_related("user").order_by("-is_manager", "user__username"),
            ),
            Prefetch("services", queryset=Service.objects.only("name", "slug", "team").order_by("name")),
            Prefetch("rotations", queryset=Rotation.objects.only("name", "team").order_by("name")),
        ),
        slug=slug,
    )
    configure = may_configure(request.user, team)
    context = {"team": team, "may_configure": configure, "form": MemberForm() if configure else None}
    return render(request, "teams/detail.html", context)


def _configurable(request: HttpRequest, slug: str) -> Team:
    team = get_object_or_404(Team, slug=slug)
    if not may_configure(request.user, team):
        raise PermissionDenied
    return team


@role_required(roles.VIEW_INCIDENT)
@require_POST
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a member, or change whether an existing member manages the team."""
    team = _configurable(request, slug)
    form = MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("teams:detail", slug=team.slug)
    user, is_manager = form.cleaned_data["username"], form.cleaned_data["is_manager"]
    with transaction.atomic():
        membership, created = TeamMembership.objects.get_or_create(
            team=team, user=user, defaults={"is_manager": is_manager}
        )
        if not created and membership.is_manager != is_manager:
            membership.is_manager = is_manager
            membership.save(update_fields=["is_manager"])  # one row: the audit log records it
    role = "a manager" if is_manager else "a member"
    messages.success(request, f"{user.username} is {role} of {team.name}.")
    return redirect("teams:detail", slug=team.slug)


@role_required(roles.VIEW_INCIDENT)
@require_POST
def member_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    team = _configurable(request, slug)
    membership = get_object_or_404(TeamMembership.objects.select_related("user"), team=team, user_id=user_id)
    if membership.from_identity_provider:
        # The next sign-in would put them back: the group in the identity provider decides.
        messages.error(
            request,
            f"{membership.user.username} is in {team.name} through the identity provider's groups; "
            "remove them from the group there.",
        )
        return redirect("teams:detail", slug=team.slug)
    membership.delete()
    messages.success(request, f"{membership.user.username} is no longer in {team.name}.")
    return redirect("teams:detail", slug=team.slug)
