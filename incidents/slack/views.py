"""Slack's two endpoints: `POST /integrations/slack/interactions/` (button presses, the report
dialog's submission) and `POST /integrations/slack/commands/` (the `/incident` command).

Before anything is read or written: the app must be configured (SLACK_SIGNING_SECRET, else 404),
the body small enough, and the request signed by Slack within the last 5 minutes (slack-sdk's
SignatureVerifier); otherwise 401 and nothing is written. Slack users act through intake.py.
"""

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from incidents import roles
from incidents.inbound import body_refusal
from incidents.notifications import slackapp
from incidents.slack import intake

logger = logging.getLogger(__name__)

# The report dialog must open before its trigger expires (3 s after the command).
VIEWS_OPEN_TIMEOUT = 2


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this request is not Slack's, or None: configuration, size, signature and age."""
    if not settings.SLACK_SIGNING_SECRET:
        return _text(404, "Beacon's Slack app is not configured: set SLACK_SIGNING_SECRET.")
    refused = body_refusal(request)
    if refused:
        return _text(*refused)
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    signature = request.headers.get("X-Slack-Signature")
    try:
        valid = SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid(request.body, timestamp, signature)
    except (TypeError, ValueError):  # a timestamp that is not a number
        valid = False
    if not valid:
        return _text(
            401, "The request is not signed by Slack with this app's signing secret, or is older than 5 minutes."
        )
    return None


def ephemeral(text: str) -> JsonResponse:
    return JsonResponse({"response_type": "ephemeral", "text": text})


@csrf_exempt  # Slack signs its requests; it cannot send a CSRF token
@never_cache
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused:
        return refused
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return _text(400, "Expected a form field `payload` holding Slack's JSON.")
    if not isinstance(payload, dict):
        return _text(400, "Expected a form field `payload` holding Slack's JSON.")
    kind = payload.get("type")
    try:
        if kind == "block_actions":
            intake.button(payload)
        elif kind == "view_submission" and (payload.get("view") or {}).get("callback_id") == intake.REPORT_CALLBACK:
            return JsonResponse(intake.submit_report(payload))
    except (AttributeError, TypeError, KeyError):  # signed, but not shaped as Slack documents it
        return _text(400, "Slack's payload is not in the shape Beacon expects; nothing was changed.")
    return HttpResponse(status=200)


@csrf_exempt
@never_cache
@require_POST
def commands(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused:
        return refused
    text = " ".join(request.POST.get("text", "").split())
    member, channel = request.POST.get("user_id", ""), request.POST.get("channel_id", "")
    word, _, rest = text.partition(" ")
    word = word.lower()
    if word in ("", "help"):
        return ephemeral(intake.USAGE)
    user = intake.beacon_user(member)
    if user is None:
        return ephemeral(intake.link_help(member))
    if word in intake.VERBS:
        if not rest:
            return ephemeral(f"Say which incident, e.g. `/incident {word} INC-42`.")
        return ephemeral(intake.act(user, word, rest)[1])
    if word == "open" and not rest:
        return ephemeral(intake.open_list(user))
    if not user.has_perm(roles.ADD_INCIDENT):
        return ephemeral(f"Your Beacon role ({intake.role_name(user)}) does not allow you to report incidents.")
    view = intake.report_view(text, channel)
    if view is None:
        return ephemeral("Beacon has no services yet: a manager must add one before incidents can be reported.")
    try:
        slackapp.client(timeout=VIEWS_OPEN_TIMEOUT).views_open(trigger_id=request.POST.get("trigger_id", ""), view=view)
    except SlackApiError as error:
        logger.warning("Slack views.open failed: %s", error.response.get("error"))
        return ephemeral(
            f"Slack did not open the report form ({error.response.get('error') or error.response.status_code}). "
            f"Report it on the web: {settings.SITE_URL}/incidents/new/"
        )
    except OSError as error:  # timeouts and refused connections
        logger.warning("Slack views.open failed: %s", error)
        return ephemeral(f"Slack did not answer in time. Report it on the web: {settings.SITE_URL}/incidents/new/")
    return HttpResponse(status=200)
