"""Escalation policies through the API, read only: what a script needs to check who will be
paged, and when, for a service (docs/api.md). Editing stays on Beacon's pages, where the policy
form validates every step (incidents/oncall/forms.py, an area the API may not import).
"""

from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema

from incidents import roles
from incidents.api.auth import TokenAuth
from incidents.api.common import ERRORS, one_of, unknown_parameters
from incidents.models import EscalationPolicy, EscalationStep, Service, Severity

router = Router(tags=["escalation"])
AUTH = TokenAuth(roles.VIEW_ESCALATIONPOLICY)


class StepOut(Schema):
    position: int = Field(description="0 runs first.")
    delay_minutes: int | None = Field(
        description="The wait after the step before (the first: after the report); null: the severity's "
        "delay from the settings (ONCALL_ESCALATION_MINUTES)."
    )
    target: one_of(EscalationStep.Target) = Field(
        description="on_call, next or everyone of `rotation`; user: `user`; managers: the policy team's "
        "managers, else everyone with the Manager role."
    )
    rotation: str | None = Field(description="The rotation's name; null for a rotation target: the service's own.")
    user: str | None = Field(description="The username, for target `user`.")
    description: str = Field(description="What people read: “the on-call of Checkout primary”.")

    @staticmethod
    def resolve_rotation(step) -> str | None:
        return step.rotation.name if step.rotation_id else None

    @staticmethod
    def resolve_user(step) -> str | None:
        return step.user.get_username() if step.user_id else None

    @staticmethod
    def resolve_description(step) -> str:
        return step.describe()


class PolicyOut(Schema):
    id: int
    name: str
    description: str
    team: str | None = Field(description="The team whose managers may edit it (its slug); null: managers only.")
    severities: list[Severity] = Field(description="The severities that escalate; others page only the lead.")
    repeat: int = Field(description="How many more times the steps run after the first time.")
    skip_unreachable: bool = Field(description="When nobody in a step can be reached, the next step starts at once.")
    is_default: bool = Field(description="Covers every service that names no policy.")
    services: list[str] = Field(description="Slugs of the services that name this policy.")
    steps: list[StepOut]

    @staticmethod
    def resolve_team(policy) -> str | None:
        return policy.team.slug if policy.team_id else None

    @staticmethod
    def resolve_services(policy) -> list[str]:
        return [s.slug for s in policy.services.all()]

    @staticmethod
    def resolve_steps(policy) -> list:
        return list(policy.steps.all())


def _policies():
    steps = EscalationStep.objects.select_related("rotation", "user").order_by("position", "pk")
    return (
        EscalationPolicy.objects.select_related("team")
        .prefetch_related(Prefetch("steps", queryset=steps), Prefetch("services", Service.objects.order_by("name")))
        .order_by("-is_default", "name")
    )


@router.get(
    "/escalation-policies", auth=AUTH, response={200: list[PolicyOut], **ERRORS}, url_name="escalation_policies"
)
def list_policies(request: HttpRequest):
    """Every escalation policy, the default first, with its steps and services (three queries)."""
    unknown_parameters(request, ())
    return list(_policies())


@router.get(
    "/escalation-policies/{policy_id}",
    auth=AUTH,
    response={200: PolicyOut, **ERRORS},
    url_name="escalation_policy",
)
def get_policy(request: HttpRequest, policy_id: int):
    """One escalation policy by its id."""
    found = _policies().filter(pk=policy_id).first()
    if found is None:
        raise Http404(f"There is no escalation policy {policy_id}.")
    return found
