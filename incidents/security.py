"""Who is asking, as far as the deployment lets Beacon know.

The client's address comes from `REMOTE_ADDR` unless settings say how many reverse proxies
stand in front of Beacon (`TRUSTED_PROXY_COUNT`): each of them appends the address it saw to
`X-Forwarded-For`, so the client is the entry that many places from the right. Anything
further left was written by the client itself and is never trusted. Login throttling
(django-axes, `AXES_CLIENT_IP_CALLABLE`) and the password-reset throttle both use this.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, or None when the request carries none (a request built in code)."""
    remote = request.META.get("REMOTE_ADDR") or None
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        # Fewer entries than proxies: the request did not come through all of them.
        return remote
    return forwarded[-hops]


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in: 429, a page that says what to do, Retry-After."""
    cooloff = settings.AXES_COOLOFF_TIME
    minutes = max(1, int(cooloff.total_seconds() // 60))
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(int(cooloff.total_seconds()))
    return response
