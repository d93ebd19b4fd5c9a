from django.utils import timezone

from incidents import workflow
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


class ViaWebMiddleware:
    """Timeline entries written while answering a request came from the web, unless the view
    says otherwise (the API, the Alertmanager webhook, Slack and email links do)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with workflow.via(workflow.VIA_WEB):
            return self.get_response(request)
