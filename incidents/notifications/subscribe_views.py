"""The status page's email sign-up (no account): ask, confirm by the emailed link, done.
The rules are in incidents/notifications/subscribers.py."""

from django import forms
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from incidents.models import Service
from incidents.notifications import subscribers
from incidents.security import REFUSED, SEND, throttle, too_many_requests


class SubscribeForm(forms.Form):
    email = forms.EmailField(label="Your email address", max_length=254)
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only these services",
        help_text="Leave them all unticked to hear about every service.",
        error_messages={"invalid_choice": "Choose among the services listed."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = subscribers.public_services()


def _page(request: HttpRequest, template: str, context: dict | None = None, status: int = 200) -> HttpResponse:
    return render(request, template, {"time_zone": settings.TIME_ZONE, **(context or {})}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    form = SubscribeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].strip().lower()
        minutes = settings.STATUS_SUBSCRIBE_WINDOW_MINUTES
        verdict = throttle(
            "status-subscribe",
            request,
            email,
            per_ip=settings.STATUS_SUBSCRIBE_PER_IP,
            per_address=settings.STATUS_SUBSCRIBE_PER_ADDRESS,
            minutes=minutes,
        )
        if verdict == REFUSED:
            return too_many_requests(request, minutes)
        if verdict == SEND:
            ids = tuple(sorted(service.pk for service in form.cleaned_data["services"]))
            subscribers.send_confirmation(subscribers.Request(email=email, service_ids=ids))
        # The same answer whatever happened: it never tells whether an address is subscribed.
        return redirect("subscribe:sent")
    return _page(request, "status/subscribe.html", {"form": form}, status=422 if form.is_bound else 200)


@never_cache
@require_GET
def sent(request: HttpRequest) -> HttpResponse:
    return _page(request, "status/subscribe_sent.html", {"hours": settings.STATUS_SUBSCRIBE_LINK_HOURS})


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the link only shows a button (mail scanners open links); pressing it subscribes."""
    try:
        asked = subscribers.read_confirmation(token)
    except signing.SignatureExpired:
        return _page(request, "status/subscribe_invalid.html", {"expired": True}, status=400)
    except signing.BadSignature:
        return _page(request, "status/subscribe_invalid.html", {"expired": False}, status=400)
    if request.method == "POST":
        subscriber = subscribers.confirm(asked)
        services = list(subscriber.services.order_by("name").values_list("name", flat=True))
        return _page(request, "status/subscribe_done.html", {"subscriber": subscriber, "services": services})
    return _page(request, "status/subscribe_confirm.html", {"email": asked.email})
