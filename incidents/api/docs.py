"""The API's interactive docs (Swagger UI) from vendored files, and who may see them.

django-ninja's own Swagger page loads its assets from a CDN unless ninja is an
installed app; Beacon serves swagger-ui-dist from static/vendor/swagger-ui/ instead.
"""

from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger

from incidents.access import role_required
from incidents.api.auth import VIEW, authenticate, refusal
from incidents.inbound import bearer_token


class VendoredSwagger(Swagger):
    template = "api/docs.html"
    # validatorUrl None: Swagger UI would otherwise send the schema to validator.swagger.io.
    default_settings = {"layout": "BaseLayout", "deepLinking": True, "validatorUrl": None}

    def render_page(self, request: HttpRequest, api, **kwargs) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        return render(request, self.template, {"api": api, "swagger_settings": self.settings})


def docs_access(view):
    """Who may read the schema and the docs: the same people who may see incidents.

    In a browser that is a signed-in user with a role (else the sign-in page or 403, as
    for every page); a program may fetch /api/openapi.json with its API token instead.
    """
    page = role_required(VIEW)(view)

    @wraps(page)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if "Authorization" not in request.headers:
            return page(request, *args, **kwargs)
        caller = authenticate(bearer_token(request))
        if caller is None:
            return JsonResponse({"detail": "Missing, wrong or revoked API token."}, status=401)
        reason = refusal(caller, VIEW, integrations=True)
        if reason:
            return JsonResponse({"detail": reason}, status=403)
        return view(request, *args, **kwargs)

    return wrapped
