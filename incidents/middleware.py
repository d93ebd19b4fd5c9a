import time

from django.conf import settings
from django.contrib.auth import logout
from django.utils import timezone

from incidents.models import Profile


class UserTimezoneMiddleware:
    """Show times, and read typed times, in the signed-in user's own time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz = None
        if request.user.is_authenticated:
            try:
                tz = request.user.profile.zoneinfo
            except Profile.DoesNotExist:
                tz = None
        if tz is not None:
            timezone.activate(tz)
        else:
            timezone.deactivate()
        return self.get_response(request)


class SessionLifetimeMiddleware:
    """Sign a session out after SESSION_IDLE_MINUTES without a request, and SESSION_MAX_DAYS
    after it began, whichever comes first.

    Every request counts as activity, the dashboard's own refreshes included: a board left
    open on a screen stays signed in until the absolute limit; a closed tab or a forgotten
    laptop does not. The last-seen time is written at most once a minute, so reads do not
    turn into a session write each.
    """

    STARTED = "_beacon_started"
    SEEN = "_beacon_seen"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            at = int(time.time())
            session = request.session
            started = session.get(self.STARTED)
            seen = session.get(self.SEEN)
            idle = settings.SESSION_IDLE_MINUTES * 60
            lifetime = settings.SESSION_MAX_DAYS * 86400
            if started is None:
                session[self.STARTED] = session[self.SEEN] = at
            elif at - started > lifetime or (seen is not None and at - seen > idle):
                logout(request)
            elif seen is None or at - seen >= 60:
                session[self.SEEN] = at
        return self.get_response(request)


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
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
        response.setdefault("Permissions-Policy", self.PERMISSIONS_POLICY)
        return response
