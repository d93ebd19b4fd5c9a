"""Every error the API answers with is JSON, in one of two shapes (docs/api.md):

- 422: `{"detail": [{"field": "title", "message": "This field is required."}, …]}`
- anything else (400, 401, 403, 404, 409, 413, 500, 503): `{"detail": "A sentence for a person."}`

An unexpected exception is a JSON 500 too (logged as Django logs it, never shown to the
client), and a database outage a JSON 503 with Retry-After (incidents/outage.py).
"""

import logging
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import bad_request, page_not_found
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from incidents import outage, workflow
from incidents.inbound import body_refusal

# Django's own logger for failed requests: it reaches the same handlers (and ADMINS) as an
# error Django itself caught.
request_logger = logging.getLogger("django.request")

# The names endpoints give their schema parameters; not part of what the client sent.
SCHEMA_PARAMS = {"payload", "filters"}


class FieldErrors(Exception):
    """Input that parsed but is not acceptable: [(field, message), …] → 422."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__(errors)
        self.errors = errors


def form_errors(form, rename: dict[str, str] | None = None) -> FieldErrors:
    """A Django form's errors as FieldErrors, with form field names mapped to API ones."""
    rename = rename or {}
    return FieldErrors(
        [
            ("body" if name == "__all__" else rename.get(name, name), str(message))
            for name, messages in form.errors.items()
            for message in messages
        ]
    )


def _readable(error: dict) -> tuple[str, str]:
    # ninja's loc is (source, param name?, field, …); the client knows only the field.
    source, *path = [str(part) for part in error["loc"]] or ["body"]
    if path and path[0] in SCHEMA_PARAMS:
        path = path[1:]
    field = ".".join(path) or source
    kind = error.get("type")
    if kind == "missing":
        message = "This field is required."
    elif kind == "extra_forbidden":
        message = "Unknown field."
    else:
        message = error["msg"].removeprefix("Value error, ")
        if not message.endswith("."):
            message += "."
    return field, message


def _json(status: int, detail, **headers) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status, headers=headers or None)


def install(api: NinjaAPI) -> None:
    """Register Beacon's error answers on `api`."""

    @api.exception_handler(ValidationError)
    def invalid(request: HttpRequest, exc: ValidationError):
        errors = [_readable(error) for error in exc.errors]
        return _json(422, [{"field": field, "message": message} for field, message in errors])

    @api.exception_handler(FieldErrors)
    def unacceptable(request: HttpRequest, exc: FieldErrors):
        return _json(422, [{"field": field, "message": message} for field, message in exc.errors])

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError):
        return _json(
            401,
            "Missing, wrong or revoked API token. Send the header “Authorization: Bearer <token>”.",
            **{"WWW-Authenticate": 'Bearer realm="beacon"'},
        )

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError):
        # AuthorizationError (403) lands here too, with its reason.
        message = str(exc)
        if exc.status_code == 400 and message.startswith("Cannot parse request body"):
            message = "The request body is not valid JSON."
        return _json(exc.status_code, message)

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, exc: PermissionDenied):
        return _json(403, str(exc) or "Your role does not allow this.")

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404):
        return _json(404, str(exc) or "Not found.")

    @api.exception_handler(Exception)
    def failed(request: HttpRequest, exc: Exception):
        # Not Django's HTML error page: a client of the API reads JSON, and learns nothing internal.
        if outage.is_database_outage(exc):
            return outage.unavailable(request)
        request_logger.error(
            "Internal Server Error: %s", request.path, exc_info=exc, extra={"status_code": 500, "request": request}
        )
        return _json(500, outage.FAILED)

    @api.exception_handler(workflow.InvalidTransition)
    def conflict(request: HttpRequest, exc: workflow.InvalidTransition):
        # The request was well-formed, but the incident's state does not allow it.
        return _json(409, str(exc))


def limit_body(run):
    """A view-level decorator: refuse bodies over MAX_BODY_BYTES (incidents/inbound.py) with 413,
    before reading them."""

    @wraps(run)
    def wrapped(request: HttpRequest, *args, **kwargs):
        refused = body_refusal(request)
        if refused:
            return _json(*refused)
        return run(request, *args, **kwargs)

    return wrapped


def bad_request_page(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Beacon's handler400 (a request Django refuses before any view: a Host not in ALLOWED_HOSTS,
    a malformed body or cookie): JSON under /api/, else Django's page."""
    if request.path.startswith("/api/"):
        return _json(400, "Beacon cannot read this request (its Host header, or its body).")
    return bad_request(request, exception)


def not_found_page(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Beacon's handler404: an unknown URL under /api/ is a JSON 404 (a client reads JSON, and
    an anonymous one gets no HTML page); elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return _json(404, "There is no such API endpoint; /api/openapi.json lists them.")
    return page_not_found(request, exception)


def json_not_allowed(view):
    """Wrap one of the API's URL views: django-ninja answers a method it has no operation for
    with a plain-text 405; make it JSON, keeping the Allow header."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = response.get("Allow", "")
            return _json(405, f"{request.method} is not allowed here; use {allowed}.", Allow=allowed)
        return response

    return wrapped
