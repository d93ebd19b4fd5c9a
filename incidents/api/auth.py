"""Who is calling the API: a person's API token, or an integration's.

Every request carries `Authorization: Bearer <token>`. Session cookies never
authenticate the API, so a page on another site cannot make a signed-in browser call
it (there is no CSRF to protect against, and the API views are CSRF-exempt).

- A personal token (`bcu_…`, incidents.models.ApiToken) acts as its user, with that
  user's role; a deactivated user's tokens stop working at once.
- An integration token (`bcn_…`, incidents.models.Integration of kind "API client")
  acts as Beacon itself (`by=None` in the workflow). It may read incidents, report
  them and post status updates; it may not acknowledge or resolve, which are a
  person's acts. Alertmanager integration tokens are for the Alertmanager receiver only.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security.http import HttpAuthBase

from incidents import roles
from incidents.inbound import bearer_token
from incidents.models import ApiToken, Integration
from incidents.models.tokens import mark_used

VIEW = roles.VIEW_INCIDENT
REPORT = roles.ADD_INCIDENT
RESPOND = roles.RESPOND_INCIDENT


@dataclass(frozen=True)
class Caller:
    """The authenticated party of one API request."""

    user: AbstractBaseUser | None = None
    integration: Integration | None = None

    @property
    def by(self) -> AbstractBaseUser | None:
        """The `by=` argument for workflow functions: the user, or None (Beacon itself)."""
        return self.user

    def __str__(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return f"integration {self.integration}"


def authenticate(token: str | None) -> Caller | None:
    """The caller a token belongs to (one query), or None for a missing, wrong or revoked token."""
    if not token:
        return None
    if token.startswith("bcu_"):
        row = ApiToken.objects.select_related("user").filter(user__is_active=True).matching(token)
        caller = Caller(user=row.user) if row else None
    elif token.startswith("bcn_"):
        row = Integration.objects.matching(token)
        caller = Caller(integration=row) if row else None
    else:
        return None
    if row is not None:
        mark_used(row)
    return caller


def refusal(caller: Caller, perm: str, *, integrations: bool) -> str | None:
    """Why `caller` may not do what needs `perm`, or None when it may."""
    if caller.integration is not None:
        if caller.integration.kind != Integration.Kind.API:
            return (
                "This is an Alertmanager integration token; it is accepted only by "
                "POST /integrations/alertmanager/. Use an integration of kind “API client” "
                "or a personal API token."
            )
        if not integrations:
            return "Only a person can do this; use a personal API token."
        return None
    if not caller.user.has_perm(perm):
        return "Your role does not allow this."
    return None


class TokenAuth(HttpAuthBase):
    """Bearer-token authentication plus the one permission an endpoint needs.

    Each endpoint states its permission here, once: `auth=TokenAuth(RESPOND)`.
    A missing or bad token gives 401; a valid token without the permission gives 403,
    before the request body is read.
    """

    openapi_scheme = "bearer"
    openapi_description = (
        "A personal API token (bcu_…, made at /accounts/tokens/) or an API-client "
        "integration token (bcn_…, made by a manager)."
    )

    def __init__(self, perm: str, *, integrations: bool = True):
        super().__init__()
        self.perm = perm
        self.integrations = integrations

    def __call__(self, request: HttpRequest) -> Caller | None:
        # Not HttpBearer.__call__: in DEBUG that logs the whole header, token included.
        caller = authenticate(bearer_token(request))
        if caller is None:
            return None
        reason = refusal(caller, self.perm, integrations=self.integrations)
        if reason:
            raise AuthorizationError(message=reason)
        return caller
