"""Inbound webhooks from other programs: `POST /integrations/alertmanager/`,
`POST /integrations/grafana/` and the generic `POST /integrations/webhook/` (any JSON body, read
through the integration's mapping).

Token auth (an Integration's bearer token), never a session. Every answer is JSON with a
`message`. Alertmanager retries only 5xx, so an answer is 4xx only when a retry could never
help (bad token, bad payload, too large); anything that may pass later, a database
outage above all, is 503 with Retry-After.
"""

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from incidents import reference, workflow
from incidents.alerts import intake, webhook
from incidents.alerts.grafana import parse_grafana
from incidents.alerts.intake import PayloadError
from incidents.inbound import MAX_BODY_BYTES, bearer_token, body_refusal, too_large
from incidents.models import Integration
from incidents.models.tokens import integration_with_heartbeat, mark_used

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10


def _answer(status: int, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"message": message, **extra}, status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="beacon"'
    return response


def _read_body(request: HttpRequest) -> bytes:
    if request.META.get("CONTENT_LENGTH") or not request.META.get("wsgi.input_terminated"):
        # Its Content-Length was checked (body_refusal), and Django reads no further than it.
        return request.body
    # A chunked body has no length, and Django's own stream then reads nothing. The server
    # (gunicorn) has decoded the chunks and marks the input as ending: read it, bounded.
    stream, chunks, size = request.META["wsgi.input"], [], 0
    while chunk := stream.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadError(too_large(), status=413)
        chunks.append(chunk)
    return b"".join(chunks)


@csrf_exempt
@never_cache
def alertmanager_webhook(request: HttpRequest) -> JsonResponse:
    """Alertmanager's webhook (payload version 4): 200 when applied, also for a repeat."""
    return _webhook(request, Integration.Kind.ALERTMANAGER, "an Alertmanager", intake.parse)


@csrf_exempt
@never_cache
def grafana_webhook(request: HttpRequest) -> JsonResponse:
    """Grafana Alerting's webhook contact point (payload version 1), applied as Alertmanager's is."""
    return _webhook(request, Integration.Kind.GRAFANA, "a Grafana", parse_grafana)


def _webhook(
    request: HttpRequest, kind: str, an_integration: str, parse: Callable[[bytes], tuple[intake.Payload, dict]]
) -> JsonResponse:
    """The receiver's contract, whoever sends: a token of this kind, the size, JSON, the shape, then
    one transaction; `an_integration` names the kind in answers ("an Alertmanager")."""
    if request.method != "POST":
        response = _answer(405, f"Use POST: this is {an_integration} webhook receiver.")
        response["Allow"] = "POST"
        return response
    # Before the body is read, and before the database is asked anything.
    refused = body_refusal(request)
    if refused:
        return _answer(*refused)
    try:
        token = bearer_token(request)
        if not token:
            return _answer(401, "Send the integration's token: Authorization: Bearer <token>.")
        # With its heartbeat settings: the intake asks which alert is the heartbeat.
        integration = integration_with_heartbeat(token)
        if integration is None:
            return _answer(401, "The token is wrong, or its integration is disabled.")
        if integration.kind != kind:
            return _answer(403, f"The integration “{integration.name}” is not {an_integration} integration.")
        mark_used(integration)
        payload, raw = parse(_read_body(request))
        # The reference data (services, types...) from this process's copies at the count read with
        # the token, when they were made at it (incidents/reference.py).
        with workflow.via(workflow.VIA_ALERT), reference.at(integration.reference_generation):
            outcome = intake.receive(integration, payload, raw)
    except PayloadError as error:
        extra = {"errors": error.errors} if error.errors else {}
        return _answer(error.status, str(error), **extra)
    except (DatabaseError, intake.Contention) as error:
        # Alertmanager (and Grafana's, which is one) retries a 5xx with backoff; a 4xx here would lose the alerts.
        logger.exception("%s payload not stored: %s", kind, type(error).__name__)
        return _answer(503, "Beacon cannot store alerts right now; retry later.")
    return _answer(
        200,
        outcome.message,
        incident=outcome.incident.ref if outcome.incident else None,
        incidents=outcome.incidents,
        created=outcome.created,
        changed=outcome.changed,
        type=outcome.incident.type.slug if outcome.incident else None,
        **({"warnings": outcome.warnings} if outcome.warnings else {}),
    )


@csrf_exempt
@never_cache
def generic_webhook(request: HttpRequest) -> JsonResponse:
    """Any JSON body, read through the webhook integration's field mapping (alerts/webhook.py):
    200 when applied, also for a repeat; the same answers as Alertmanager's webhook otherwise."""
    if request.method != "POST":
        response = _answer(405, "Use POST: this is Beacon's generic webhook receiver.")
        response["Allow"] = "POST"
        return response
    refused = body_refusal(request)
    if refused:
        return _answer(*refused)
    try:
        token = bearer_token(request)
        if not token:
            return _answer(401, "Send the integration's token: Authorization: Bearer <token>.")
        # With its mapping (and the mapping's default service) and heartbeat settings in one query.
        integration = Integration.objects.select_related("heartbeat", "webhook_mapping__default_service").matching(
            token
        )
        if integration is None:
            return _answer(401, "The token is wrong, or its integration is disabled.")
        if integration.kind != Integration.Kind.WEBHOOK:
            return _answer(403, f"The integration “{integration.name}” is not a generic webhook integration.")
        mark_used(integration)
        body = _read_body(request)
        with workflow.via(workflow.VIA_ALERT):
            outcome = webhook.receive(integration, body)
    except PayloadError as error:
        extra = {"errors": error.errors} if error.errors else {}
        return _answer(error.status, str(error), **extra)
    except (DatabaseError, intake.Contention) as error:
        logger.exception("Webhook body not stored: %s", type(error).__name__)
        return _answer(503, "Beacon cannot store alerts right now; retry later.")
    return _answer(
        200,
        outcome.message,
        incident=outcome.incident.ref if outcome.incident else None,
        created=outcome.created,
        changed=outcome.changed,
    )
