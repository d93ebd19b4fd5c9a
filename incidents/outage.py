"""When the database cannot answer: 503 with Retry-After, never a bare 500.

`server_error` is Beacon's handler500 (incidentsite/urls.py). Django calls it for every
uncaught exception, in a view or in a middleware, while that exception is being handled, so
it can tell a database outage, a dropped connection or a lock/statement timeout
(OperationalError, InterfaceError) from a bug: those answer 503 with Retry-After, as a page
that says nothing typed was lost, or as JSON under /api/. The page is rendered without the
request (no session, no user: they live in the database too).
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader

RETRY_AFTER_SECONDS = 10
MESSAGE = "Beacon can't reach its database right now; nothing you typed is lost — try again in a moment."


def is_database_outage(error: BaseException | None) -> bool:
    return isinstance(error, OperationalError | InterfaceError)


def unavailable(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        html = loader.get_template("503.html").render({"message": MESSAGE, "retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    if is_database_outage(sys.exc_info()[1]):
        return unavailable(request)
    return HttpResponseServerError(loader.get_template("500.html").render())
