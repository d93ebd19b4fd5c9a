"""Inbound webhooks from other programs: `POST /integrations/alertmanager/`.

Token auth (an Integration's bearer token), never a session. Every answer is JSON with a
`message`. Alertmanager retries only 5xx, so an answer is 4xx only when a retry could never
help (bad token, bad payload, too large); anything that may pass later, a database
outage above all, is 503 with Retry-After.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from incidents import alertmanager
from incidents.alertmanager import MAX_BODY_BYTES, PayloadError
from incidents.models import Integration

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10


def _answer(status: int, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"message": message, **extra}, status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="beacon"'
    return response


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _too_large() -> PayloadError:
    return PayloadError(f"The body is larger than {MAX_BODY_BYTES} bytes (1 MiB).", status=413)


def _read_body(request: HttpRequest) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or ""
    if not declared and request.META.get("wsgi.input_terminated"):
        # A chunked body has no length, and Django's own stream then reads nothing. The server
        # (gunicorn) has decoded the chunks and marks the input as ending: read it, bounded.
        stream, chunks, size = request.META["wsgi.input"], [], 0
        while chunk := stream.read(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large()
            chunks.append(chunk)
        return b"".join(chunks)
    try:
        body = request.body
    except RequestDataTooBig:
        # Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) answers 400; the contract says 413.
        raise _too_large() from None
    if len(body) > MAX_BODY_BYTES:
        raise _too_large()
    return body


@csrf_exempt
@never_cache
def alertmanager_webhook(request: HttpRequest) -> JsonResponse:
    """Alertmanager's webhook (payload version 4): 200 when applied, also for a repeat."""
    if request.method != "POST":
        response = _answer(405, "Use POST: this is Alertmanager's webhook receiver.")
        response["Allow"] = "POST"
        return response
    try:
        # Before the body is read, and before the database is asked anything.
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            raise _too_large()
    except ValueError:
        return _answer(400, "The Content-Length header is not a number.")
    except PayloadError as error:
        return _answer(error.status, str(error))
    try:
        token = _bearer(request)
        if not token:
            return _answer(401, "Send the integration's token: Authorization: Bearer <token>.")
        integration = Integration.objects.matching(token)
        if integration is None:
            return _answer(401, "The token is wrong, or its integration is disabled.")
        if integration.kind != Integration.Kind.ALERTMANAGER:
            return _answer(403, f"The integration “{integration.name}” is not an Alertmanager integration.")
        payload, raw = alertmanager.parse(_read_body(request))
        outcome = alertmanager.receive(integration, payload, raw)
    except PayloadError as error:
        extra = {"errors": error.errors} if error.errors else {}
        return _answer(error.status, str(error), **extra)
    except (DatabaseError, alertmanager.Contention) as error:
        # Alertmanager retries a 5xx with backoff; a 4xx here would lose the alerts.
        logger.exception("Alertmanager payload not stored: %s", type(error).__name__)
        return _answer(503, "Beacon cannot store alerts right now; retry later.")
    return _answer(
        200,
        outcome.message,
        incident=outcome.incident.ref if outcome.incident else None,
        incidents=outcome.incidents,
        created=outcome.created,
        changed=outcome.changed,
    )
