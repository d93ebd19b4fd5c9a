"""When the database cannot answer: 503 with Retry-After, never a bare 500.

`server_error` is Beacon's handler500 (incidentsite/urls.py); under /api/ and /integrations/ its
500 is JSON too, saying nothing internal. Django calls it for every
uncaught exception, in a view or in a middleware, while that exception is being handled, so
it can tell a database outage, a dropped connection or a lock/statement timeout
(OperationalError, InterfaceError) from a bug: those answer 503 with Retry-After, as a page
that says nothing typed was lost, or as JSON under /api/ and /integrations/ (machines retry).
The page is rendered without the session or the user (they live in the database too).

A form posted while the database was away comes back on that page: its text fields, in a form
that posts them again to the same address, with a fresh CSRF token (the token is a masked copy
of the CSRF cookie's secret: no database needed). Left out: files (never in request.POST), the
posted CSRF token, and every field whose name says it holds a credential (passwords, tokens,
secrets, keys) — but the form's idempotency token (incidents/idempotency.py) is kept, hidden:
it is no credential, and it makes a resend that is clicked twice, or a resend of a report the
database did store before failing, land on the first result.
"""

import re
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.template import loader

RETRY_AFTER_SECONDS = 10
MESSAGE = "Beacon can't reach its database right now; nothing you typed is lost — try again in a moment."
# Answered in JSON: the API and the machine-facing intakes (Alertmanager, Slack).
MACHINE_PATHS = ("/api/", "/integrations/")

# Names of fields never written back into the page.
CREDENTIAL = re.compile(r"pass|token|secret|csrf|(?:^|_)(?:api_?)?key(?:$|_)|(?:^|_)otp(?:$|_)", re.IGNORECASE)
# Posted again unseen: not something a person typed, but needed for the resend to work as the first.
HIDDEN = {"idempotency_token", "next"}
# A one-line value up to this long gets a text box; anything longer or with line breaks a text area.
SHORT = 80


def is_database_outage(error: BaseException | None) -> bool:
    return isinstance(error, OperationalError | InterfaceError)


def kept_fields(request: HttpRequest) -> list[dict]:
    """What a POST's form carried that can be shown and sent again, in the order posted."""
    if request.method != "POST":
        return []
    try:
        posted = list(request.POST.lists())
    except Exception:  # noqa: BLE001 - a body that cannot be read (too big, malformed) has nothing to give back
        return []
    fields: list[dict] = []
    for name, values in posted:
        if name != "idempotency_token" and CREDENTIAL.search(name):
            continue
        for value in values:
            fields.append(
                {
                    "name": name,
                    "label": name.replace("_", " ").capitalize(),
                    "value": value,
                    "hidden": name in HIDDEN,
                    "long": "\n" in value or "\r" in value or len(value) > SHORT,
                    "id": f"kept-{len(fields)}",
                }
            )
    return fields


def unavailable(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith(MACHINE_PATHS) or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        # A session-stored CSRF token would need the database; Beacon keeps it in a cookie.
        kept = [] if settings.CSRF_USE_SESSIONS else kept_fields(request)
        context = {"message": MESSAGE, "retry_after": RETRY_AFTER_SECONDS, "kept": kept}
        if kept:
            context.update(csrf_token=get_token(request), action=request.get_full_path())
        response = HttpResponse(loader.get_template("503.html").render(context), status=503)
        if kept:
            # Sets the CSRF cookie should the request have come without one (the middleware that
            # would otherwise do it may lie outside the point where the error was caught).
            CsrfViewMiddleware(lambda r: response).process_response(request, response)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


# What a machine is told of an unexpected error: nothing internal (the error is logged).
FAILED = "Beacon failed to answer this request; the error is logged. Try again, or tell your Beacon administrator."


def server_error(request: HttpRequest) -> HttpResponse:
    if is_database_outage(sys.exc_info()[1]):
        return unavailable(request)
    if request.path.startswith(MACHINE_PATHS):
        return JsonResponse({"detail": FAILED}, status=500)
    return HttpResponseServerError(loader.get_template("500.html").render())
