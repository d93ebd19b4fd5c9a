"""A user's own personal API tokens: make one (shown once), see them, revoke one.

Managers see and revoke everyone's tokens in the admin (incidents/admin.py).
"""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from incidents import roles
from incidents.access import role_required
from incidents.models import ApiToken

MANAGE_TOKENS = roles.ADD_APITOKEN
# Enough for every script one person runs; a bound on what a leaked session could mint.
MAX_ACTIVE_TOKENS = 20
# The new token waits here between the POST and the page that shows it, once.
NEW_TOKEN_SESSION_KEY = "beacon_new_api_token"


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What it is for, e.g. “deploy script”, so you know which to revoke."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        if ApiToken.objects.filter(user=self.user, is_active=True).count() >= MAX_ACTIVE_TOKENS:
            raise forms.ValidationError(f"You have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
        return self.cleaned_data


@never_cache
@role_required(MANAGE_TOKENS)
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    # Bound on every POST: an empty one is refused too, not shown as a fresh page.
    form = ApiTokenForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        token = ApiToken(user=request.user, name=form.cleaned_data["name"])
        secret = token.set_new_token()
        token.save()
        # Kept only until the next page shows it; only its hash is stored for good.
        request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "token": secret}
        return redirect("api_tokens")
    context = {
        "form": form,
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-is_active", "-created_at"),
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
    }
    return render(request, "incidents/tokens.html", context, status=422 if form.is_bound else 200)


@role_required(MANAGE_TOKENS)
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    # Another user's token is as absent as a missing one.
    token = ApiToken.objects.filter(user=request.user, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    if token.is_active:
        token.is_active = False
        token.save(update_fields=["is_active"])  # a save, not an update: the audit log records it
        messages.success(request, f"The token “{token.name}” is revoked; programs using it are refused from now on.")
    return redirect("api_tokens")
