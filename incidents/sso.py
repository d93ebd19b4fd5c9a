"""Single sign-on with OpenID Connect (docs/sso.md): mozilla-django-oidc, and what it leaves to us.

The library runs the authorization code flow: state, nonce and PKCE verifier kept in the session
and used once, the code exchanged at the token endpoint, the ID token's signature and expiry
checked. Beacon adds what it does not do:

- the ID token's audience and issuer are checked (the library turns the audience check off: a
  token the same provider minted for another application would otherwise sign someone in here),
  and the userinfo answer must be about the token's `sub`;
- users are found by issuer and `sub` (ExternalIdentity), never by email alone (email reuse);
- at every sign-in the group claim sets the roles OIDC_ROLE_GROUPS names and the teams
  OIDC_TEAM_GROUPS / OIDC_TEAM_GROUP_PREFIX give (claim-made memberships only);
- a refusal (bad state, replayed code, bad token, an account that cannot be linked) is a message
  on the sign-in page, never a 400 or 500.

Nothing here is on while OIDC_RP_CLIENT_ID is unset: the backend answers None, the views 404.
"""

import logging

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.crypto import salted_hmac
from django.utils.timezone import now
from jwt import InvalidTokenError, get_unverified_header
from jwt import decode as jwt_decode
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from incidents.models import ExternalIdentity, Team, TeamMembership

logger = logging.getLogger(__name__)

# Clock difference tolerated between Beacon and the provider when checking exp/iat/nbf.
LEEWAY_SECONDS = 60
GENERIC_REFUSAL = "Single sign-on did not complete. Please try again."


class Refused(SuspiciousOperation):
    """A sign-in refused for a reason the person may be told."""


def context(request) -> dict:
    """Template context on every page: whether single sign-on and passwords are on."""
    return {
        "sso_enabled": settings.OIDC_ENABLED,
        "sso_name": settings.OIDC_PROVIDER_NAME,
        "local_passwords": settings.LOCAL_PASSWORDS,
    }


def group_claim(claims: dict) -> set[str]:
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    return {str(group) for group in groups}


def apply_group_claims(user, groups: set[str]) -> None:
    """Make the user's roles and claim-made team memberships what the groups say.

    Roles: only those OIDC_ROLE_GROUPS names are touched (granted or taken away); a role a manager
    gave by hand that the mapping does not name stays. Teams: a claim-made membership of a team no
    longer claimed goes; a hand-made membership always stays (and is not turned into a claim-made
    one). A team is joined only if it exists: claims do not create teams.
    """
    mapping = settings.OIDC_ROLE_GROUPS
    managed = set().union(*mapping.values()) if mapping else set()
    wanted = set().union(*(mapping[g] for g in groups if g in mapping)) if mapping else set()
    if managed:
        held = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
        if held - wanted:
            user.groups.remove(*Group.objects.filter(name__in=held - wanted))
        if wanted - held:
            user.groups.add(*Group.objects.filter(name__in=wanted - held))

    slugs = set().union(*(settings.OIDC_TEAM_GROUPS[g] for g in groups if g in settings.OIDC_TEAM_GROUPS))
    prefix = settings.OIDC_TEAM_GROUP_PREFIX
    if prefix:
        slugs |= {g[len(prefix) :] for g in groups if g.startswith(prefix) and len(g) > len(prefix)}
    claimed = set(Team.objects.filter(slug__in=slugs).values_list("pk", flat=True))
    memberships = {m.team_id: m for m in TeamMembership.objects.filter(user=user)}
    gone = [m.pk for team, m in memberships.items() if m.from_identity_provider and team not in claimed]
    if gone:
        TeamMembership.objects.filter(pk__in=gone).delete()
    # One by one, not bulk_create: each save is what the audit log and the cached "my teams" hear.
    for team in sorted(claimed - memberships.keys()):
        TeamMembership.objects.create(team_id=team, user=user, from_identity_provider=True)


def unique_username(claims: dict) -> str:
    User = get_user_model()
    base = (claims.get("preferred_username") or claims.get("email") or "").strip()[:120]
    if base and not User.objects.filter(username=base).exists():
        return base
    # Taken (or none given): the same name with a suffix derived from the subject, stable per person.
    suffix = salted_hmac("beacon.sso.username", claims["sub"]).hexdigest()[:8]
    return f"{base or 'sso'}-{suffix}"


class OIDCBackend(OIDCAuthenticationBackend):
    def __init__(self, *args, **kwargs):
        self.UserModel = get_user_model()
        if settings.OIDC_ENABLED:
            super().__init__(*args, **kwargs)

    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ENABLED:
            return None
        return super().authenticate(request, **kwargs)

    def get_payload_data(self, token, key):
        """The ID token, its signature, expiry, audience and issuer checked (never an unsigned one)."""
        self._verify_jws_header(token)
        try:
            return jwt_decode(
                token,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_OP_ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except InvalidTokenError as error:
            raise SuspiciousOperation(f"ID token refused: {error}") from error

    def _verify_jws_header(self, token) -> None:
        try:
            alg = get_unverified_header(token).get("alg")
        except InvalidTokenError as error:
            raise SuspiciousOperation(f"ID token unreadable: {error}") from error
        if alg != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"ID token signed with {alg!r}, not {self.OIDC_RP_SIGN_ALGO!r}")

    def get_or_create_user(self, access_token, id_token, payload):
        info = self.get_userinfo(access_token, id_token, payload)
        if info.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("the userinfo answer is about another subject than the ID token")
        claims = {**payload, **info}
        try:
            with transaction.atomic():
                user = self.user_for(claims)
                apply_group_claims(user, group_claim(claims))
        except Refused as refusal:
            # The library logs and swallows this; the callback view tells the person.
            self.request.sso_refusal = str(refusal)
            raise
        return user

    def user_for(self, claims: dict):
        """The Beacon user of this issuer and subject: found, linked once by verified email, or made."""
        issuer, subject = settings.OIDC_OP_ISSUER, str(claims["sub"])
        identity = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is not None:
            user = identity.user
            self.refresh_user(user, claims)
            ExternalIdentity.objects.filter(pk=identity.pk).update(last_sign_in_at=now())
            return user
        email = (claims.get("email") or "").strip()
        same_email = list(self.UserModel.objects.filter(email__iexact=email)) if email else []
        if same_email:
            user = same_email[0]
            # Linking an existing account by email happens once, and only when the provider vouches
            # for the address and that account has no provider identity yet: an address reused for a
            # newcomer, after its old owner's account was linked, never opens that account.
            linkable = (
                len(same_email) == 1
                and claims.get("email_verified") is True
                and not user.is_superuser
                and not ExternalIdentity.objects.filter(user=user).exists()
            )
            if not linkable:
                raise Refused(
                    f"A Beacon account with the address {email} exists but cannot be linked to this sign-in."
                    " Ask a Beacon manager."
                )
        elif not settings.OIDC_CREATE_USER:
            raise Refused("You have no Beacon account yet. Ask a Beacon manager.")
        else:
            user = self.UserModel(username=unique_username(claims), email=email)
            user.set_unusable_password()
        self.refresh_user(user, claims)
        ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject, last_sign_in_at=now())
        logger.info("single sign-on: %s is %s at %s", user.username, subject, issuer)
        return user

    def refresh_user(self, user, claims: dict) -> None:
        """Name and address as the provider has them now (it is their source once SSO is on)."""
        changed = user.pk is None
        for field, value in (
            ("first_name", claims.get("given_name")),
            ("last_name", claims.get("family_name")),
            ("email", claims.get("email")),
        ):
            if value and getattr(user, field) != value[:150]:
                setattr(user, field, value[:150])
                changed = True
        if not claims.get("given_name") and claims.get("name") and not user.first_name:
            user.first_name = str(claims["name"])[:150]
            changed = True
        if changed:
            user.save()

    # Permissions are ModelBackend's business (listed before this one): no second answer here.
    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False

    def has_module_perms(self, user_obj, app_label):
        return False

    def get_user(self, user_id):
        # The library's own get_user ignores is_active: a deactivated user's session would live on.
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def _enabled_only(request) -> None:
    if not settings.OIDC_ENABLED:
        raise Http404("Single sign-on is not configured.")


class SignInView(OIDCAuthenticationRequestView):
    """GET: off to the provider, with a fresh state, nonce and PKCE verifier in the session."""

    def __init__(self, *args, **kwargs):
        if settings.OIDC_ENABLED:
            super().__init__(*args, **kwargs)

    def get(self, request):
        _enabled_only(request)
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider sends the browser back here with a code (or an error)."""

    def get(self, request):
        _enabled_only(request)
        try:
            return super().get(request)
        except (SuspiciousOperation, requests.RequestException, KeyError, ValueError, IntegrityError) as error:
            # A bad or used state, a replayed code, a token that fails its checks, a provider that
            # does not answer, two first sign-ins of one person at once: the person starts again;
            # the log says why.
            logger.warning("single sign-on failed: %s", error)
            return self.login_failure()

    def login_failure(self, message: str = ""):
        message = message or getattr(self.request, "sso_refusal", "")
        if not message and self.request.GET.get("error"):
            message = f"{settings.OIDC_PROVIDER_NAME} did not sign you in ({self.request.GET['error'][:100]})."
        user = getattr(self, "user", None)
        if not message and user is not None and not user.is_active:
            message = "Your Beacon account is deactivated. Ask a Beacon manager."
        messages.error(self.request, message or GENERIC_REFUSAL)
        return redirect(settings.LOGIN_URL)
