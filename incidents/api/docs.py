"""The API's interactive docs (Swagger UI) from vendored files.

django-ninja's own Swagger page loads its assets from a CDN unless ninja is an
installed app; Beacon serves swagger-ui-dist from static/vendor/swagger-ui/ instead.

The schema (/api/openapi.json) and this page are public: they describe the API and hold no
data (no incident, service or user is named in them), and clients and tools that read the
schema before they have a token (code generators, validators, a load balancer's probe) must
get it, never a redirect to the HTML sign-in page.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger


class VendoredSwagger(Swagger):
    template = "api/docs.html"
    # validatorUrl None: Swagger UI would otherwise send the schema to validator.swagger.io.
    default_settings = {"layout": "BaseLayout", "deepLinking": True, "validatorUrl": None}

    def render_page(self, request: HttpRequest, api, **kwargs) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        return render(request, self.template, {"api": api, "swagger_settings": self.settings})
