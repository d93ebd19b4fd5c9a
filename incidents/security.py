"""Who is asking, as far as the deployment lets Beacon know.

The client's address comes from `REMOTE_ADDR` unless settings say how many reverse proxies
stand in front of Beacon (`TRUSTED_PROXY_COUNT`): each of them appends the address it saw to
`X-Forwarded-For`, so the client is the entry that many places from the right. Anything
further left was written by the client itself and is never trusted. Login throttling
(django-axes, `AXES_CLIENT_IP_CALLABLE`), the password-reset throttle and `throttle` (the
public forms) use this.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.timezone import now

from incidents.models import PublicRequest


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


# --- public forms: how often one client, and one address, may ask ------------------------

REFUSED, QUIET, SEND = "refused", "quiet", "send"


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def throttle(form: str, request: HttpRequest, email: str, *, per_ip: int, per_address: int, minutes: int) -> str:
    """Count one request of the public form `form` and say what to do with it: REFUSED (this
    client asked `per_ip` times within `minutes`: answer 429), QUIET (this address was mailed
    `per_address` times: answer as always, so nobody learns anything, but mail nothing), or SEND."""
    since = now() - timedelta(minutes=minutes)
    PublicRequest.objects.filter(form=form, created_at__lt=since).delete()
    ip = client_ip(request) or "unknown"
    recent = PublicRequest.objects.filter(form=form, created_at__gte=since)
    if recent.filter(ip=ip).count() >= per_ip:
        return REFUSED
    digest = email_digest(email)
    send = recent.filter(email_digest=digest, sent=True).count() < per_address
    PublicRequest.objects.create(form=form, email_digest=digest, ip=ip, sent=send)
    return SEND if send else QUIET


def too_many_requests(request: HttpRequest, minutes: int) -> HttpResponse:
    """429 with a page that says when to try again, and Retry-After."""
    context = {"minutes": minutes, "time_zone": settings.TIME_ZONE}
    response = render(request, "too_many_requests.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
