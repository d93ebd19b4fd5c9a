import time

from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.contrib.auth import logout
from django.utils import timezone

from incidents import people, workflow
from incidents.models import Profile


def sessionless(view):
    """Mark a view that must never read the session (/healthz: it must answer while the
    session table does not); Beacon's middlewares leave such requests alone."""
    view.sessionless = True
    return view


class UserTimezoneMiddleware:
    """Show times, and read typed times, in the signed-in user's own time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.deactivate()
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "sessionless", False):
            return None
        tz = None
        if request.user.is_authenticated:
            people.load_permissions(request.user)
            try:
                tz = request.user.profile.zoneinfo
            except Profile.DoesNotExist:
                tz = None
        if tz is not None:
            timezone.activate(tz)
        return None


class SessionLifetimeMiddleware:
    """Sign a session out after SESSION_IDLE_MINUTES without a request, and SESSION_MAX_DAYS
    after it began, whichever comes first.

    Every request counts as activity, the dashboard's own refreshes included: a board left
    open on a screen stays signed in until the absolute limit; a closed tab or a forgotten
    laptop does not. Sign-in stamps both times (`stamp_sign_in`, in the login's own session
    save); afterwards the last-seen time is written at most once a minute, and never on an
    answer that shared caches may keep (the public status page must not set cookies).
    """

    STARTED = "_beacon_started"
    SEEN = "_beacon_seen"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request._beacon_session_checked = False
        response = self.get_response(request)
        if request._beacon_session_checked and request.user.is_authenticated:
            if "public" not in response.get("Cache-Control", ""):
                at = int(time.time())
                session = request.session
                if self.STARTED not in session:
                    session[self.STARTED] = at
                if at - session.get(self.SEEN, 0) >= 60:
                    session[self.SEEN] = at
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "sessionless", False):
            return None
        request._beacon_session_checked = True
        at = int(time.time())
        if request.user.is_authenticated:
            session = request.session
            started = session.get(self.STARTED, at)
            seen = session.get(self.SEEN, at)
            if at - started > settings.SESSION_MAX_DAYS * 86400 or at - seen > settings.SESSION_IDLE_MINUTES * 60:
                logout(request)
        return None


def stamp_sign_in(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver (connected in IncidentsConfig.ready): a new session's clock starts."""
    at = int(time.time())
    request.session[SessionLifetimeMiddleware.STARTED] = at
    request.session[SessionLifetimeMiddleware.SEEN] = at


class PrivatePageHeadersMiddleware:
    """Headers Django's SecurityMiddleware does not set.

    `Cache-Control: no-store` on every answer to a signed-in user: incident pages hold logs
    and internal notes, which must not stay in a shared or back-button cache after sign-out.
    `Permissions-Policy` on every answer: Beacon uses no camera, microphone, location,
    payment or USB, so no page (or anything injected into one) may ask for them.
    """

    PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Only when the request already read the session: never load it for this (/healthz).
        session = getattr(request, "session", None)
        if session is not None and session.accessed and request.user.is_authenticated:
            response["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
        response.setdefault("Permissions-Policy", self.PERMISSIONS_POLICY)
        return response


class AuditActorMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware (the actor of each audit log entry, incidents/audit.py),
    without loading the session on every request.

    auditlog's own version checks `request.user` up front, which reads the session even for
    /healthz. Here the actor is the lazy `request.user` itself: auditlog looks at it (and keeps
    it only if it is a signed-in user) when it writes an entry, so a request that changes
    nothing never touches the session.
    """

    @staticmethod
    def _get_actor(request):
        return getattr(request, "user", None)


class ViaWebMiddleware:
    """Timeline entries written while answering a request came from the web, unless the view
    says otherwise (the API, the Alertmanager webhook, Slack and email links do)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with workflow.via(workflow.VIA_WEB):
            return self.get_response(request)
