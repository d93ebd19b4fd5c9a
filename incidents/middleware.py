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
