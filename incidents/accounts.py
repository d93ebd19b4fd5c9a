"""The sign-in page, and the password-reset form, throttled, its links built from SITE_URL.

With LOCAL_PASSWORDS off (single sign-on for everyone, incidents/sso.py) the sign-in form takes
only a superuser's password (break-glass, for when the identity provider is down), and password
reset and change are gone (404) for everyone else: there is no local password to reset.

Django's own view builds the emailed link from the request's Host header, so a request
sent with `Host: evil.example` would mail a link to that host. Here the link is always
`SITE_URL` + the confirm path, and each address gets at most PASSWORD_RESET_PER_ADDRESS
mails, each client address at most PASSWORD_RESET_PER_IP requests, per
PASSWORD_RESET_WINDOW_MINUTES.
"""

from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.timezone import now

from incidents.models import PasswordResetRequest
from incidents.security import client_ip, email_digest


class LoginForm(AuthenticationForm):
    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        # The same answer as a wrong password: the form does not tell who has a valid one.
        if not settings.LOCAL_PASSWORDS and not user.is_superuser:
            raise self.get_invalid_login_error()


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True


def local_passwords_only(view):
    """404 for password pages while LOCAL_PASSWORDS is off, except for a signed-in superuser."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not settings.LOCAL_PASSWORDS and not request.user.is_superuser:
            raise Http404("Passwords are managed by the identity provider.")
        return view(request, *args, **kwargs)

    return guarded


class PasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form):
        window = timedelta(minutes=settings.PASSWORD_RESET_WINDOW_MINUTES)
        since = now() - window
        PasswordResetRequest.objects.filter(created_at__lt=since).delete()
        ip = client_ip(self.request) or "unknown"
        digest = email_digest(form.cleaned_data["email"])
        recent = PasswordResetRequest.objects.filter(created_at__gte=since)
        if recent.filter(ip=ip).count() >= settings.PASSWORD_RESET_PER_IP:
            response = render(
                self.request,
                "registration/password_reset_throttled.html",
                {"minutes": settings.PASSWORD_RESET_WINDOW_MINUTES},
                status=429,
            )
            response["Retry-After"] = str(int(window.total_seconds()))
            return response
        # Past the address's limit the answer is the same page as always (it never says
        # whether an account exists), but no mail goes out.
        send = recent.filter(email_digest=digest, sent=True).count() < settings.PASSWORD_RESET_PER_ADDRESS
        PasswordResetRequest.objects.create(email_digest=digest, ip=ip, sent=send)
        if not send:
            return redirect(self.get_success_url())
        site = urlsplit(settings.SITE_URL)
        form.save(
            domain_override=site.netloc,
            use_https=site.scheme == "https",
            token_generator=self.token_generator,
            from_email=self.from_email,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            request=self.request,
            html_email_template_name=self.html_email_template_name,
            extra_email_context={"site_url": settings.SITE_URL},
        )
        return redirect(self.get_success_url())
