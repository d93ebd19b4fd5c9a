"""What Beacon does with Slack's requests: who the Slack member is in Beacon, the actions they
may take, the report dialog and its submission. views.py checks the signature first.

Everything here answers within Slack's 3 seconds: the change is one short transaction, and
what must reach Slack later (the updated incident message, ephemeral replies to button presses)
is written to the outbox in that transaction. The one Web API call made while Slack waits is
views.open, whose trigger expires after 3 seconds.
"""

import json

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from incidents import roles, workflow
from incidents.forms import IncidentForm
from incidents.models import DEFAULT_TYPE_SLUG, SEVERITY_DEFINITIONS, Incident, Profile, Service, Severity, Status
from incidents.notifications import outbox, slackapp
from incidents.people import display_name

REPORT_CALLBACK = "beacon_report"
OPEN_LIST_LIMIT = 20
# Slack shows at most 100 options in a static select.
SERVICE_OPTIONS_LIMIT = 100

USAGE = (
    "*/incident* — act on Beacon incidents from Slack:\n"
    "• `/incident Checkout returns 500` opens a report form with that title\n"
    "• `/incident ack INC-42` acknowledges INC-42\n"
    "• `/incident take INC-42` makes you its lead\n"
    "• `/incident open` lists the open incidents (only you see the list)"
)

# verb -> (the workflow function, what the user is refused, what they are told when done)
VERBS = {
    "ack": (workflow.acknowledge, "acknowledge", "{ref} acknowledged."),
    "acknowledge": (workflow.acknowledge, "acknowledge", "{ref} acknowledged."),
    "take": (workflow.take, "take the lead of", "You lead {ref} now."),
}


# --- who is asking ---------------------------------------------------------------------


def beacon_user(member_id: str) -> User | None:
    """The active Beacon user whose profile carries this Slack member id; None when there is
    none, or more than one (an ambiguous link acts for nobody)."""
    if not member_id:
        return None
    profiles = list(Profile.objects.filter(slack_member_id=member_id).select_related("user")[:2])
    if len(profiles) != 1 or not profiles[0].user.is_active:
        return None
    return profiles[0].user


def link_help(member_id: str) -> str:
    return (
        "Your Slack account is not linked to an active Beacon account, so Beacon did nothing. "
        f"Sign in to Beacon, open your settings ({settings.SITE_URL}/accounts/profile/) and enter your "
        f"Slack member ID, {member_id or 'shown in your Slack profile under ⋮ → Copy member ID'}; then try again."
    )


def role_name(user: User) -> str:
    names = sorted(user.groups.values_list("name", flat=True))
    return ", ".join(names) or "no role"


# --- acting ------------------------------------------------------------------------------


def act(user: User, verb: str, ref: str) -> tuple[bool, str]:
    """Acknowledge or take `ref` as `user`, exactly as the web does: (done?, the sentence for them)."""
    do, refused_verb, done = VERBS[verb]
    if not user.has_perm(roles.VIEW_INCIDENT):
        return False, f"Your Beacon role ({role_name(user)}) does not allow you to see incidents, so nothing changed."
    # Need-to-know: a restricted incident the caller may not see answers like a missing one.
    incident = Incident.objects.visible_to(user).by_ref(ref.strip()).first()
    if incident is None:
        return False, f"There is no incident {ref.strip()[:40]} in Beacon."
    try:
        with workflow.via(workflow.VIA_SLACK):
            do(incident, by=user)
    except PermissionDenied:
        return False, (
            f"Your Beacon role ({role_name(user)}) does not allow you to {refused_verb} incidents, "
            f"so {incident.ref} is unchanged."
        )
    except workflow.InvalidTransition as refusal:
        return False, str(refusal)
    return True, done.format(ref=incident.ref)


def open_list(user: User) -> str:
    if not user.has_perm(roles.VIEW_INCIDENT):
        return f"Your Beacon role ({role_name(user)}) does not allow you to see incidents."
    incidents = list(
        Incident.objects.visible_to(user)
        .open()
        .for_list()
        .order_by("severity_rank", "reported_at", "pk")[: OPEN_LIST_LIMIT + 1]
    )
    if not incidents:
        return "No incident is open."
    lines = [
        f"• *<{slackapp.incident_url(i)}|{i.ref}>* [{Severity(i.severity).label}] {slackapp.escape(i.title)} — "
        f"{Status(i.status).label}, lead: {slackapp.escape(display_name(i.lead, 'nobody'))}"
        for i in incidents[:OPEN_LIST_LIMIT]
    ]
    if len(incidents) > OPEN_LIST_LIMIT:
        lines.append(f"… and more: {settings.SITE_URL}/")
    return "Open incidents:\n" + "\n".join(lines)


def reply_later(*, key: str, channel: str, member: str, text: str, incident: Incident | None = None) -> None:
    """An ephemeral reply, written to the outbox in the caller's transaction."""
    if channel and member:
        outbox.write([slackapp.reply_row(key=key, channel=channel, member=member, text=text, incident=incident)])


@transaction.atomic
def button(payload: dict) -> None:
    """A press of Acknowledge or Take on an incident message. The incident's message is updated
    through the outbox (the entry's own row); a refusal is told to the presser only."""
    member = str((payload.get("user") or {}).get("id") or "")
    channel = str((payload.get("channel") or {}).get("id") or "")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise TypeError("block_actions without actions")
    action = actions[0]
    verb = {slackapp.ACK: "ack", slackapp.TAKE: "take"}.get(action.get("action_id", ""))
    if verb is None:
        return  # "Open in Beacon" is a link; Slack tells us about it all the same
    key = str(payload.get("trigger_id") or action.get("action_ts") or "")
    user = beacon_user(member)
    if user is None:
        reply_later(key=key, channel=channel, member=member, text=link_help(member))
        return
    done, text = act(user, verb, str(action.get("value") or ""))
    if not done:  # when it worked, the updated message says so to everyone
        reply_later(key=key, channel=channel, member=member, text=text)


# --- the report dialog -------------------------------------------------------------------


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text[:75]}


def report_view(title: str, channel: str) -> dict | None:
    """The report dialog (title, service, severity, impact) for views.open; None without services."""
    services = list(Service.objects.order_by("name")[:SERVICE_OPTIONS_LIMIT])
    if not services:
        return None
    severities = [
        {"text": _plain(s.label), "description": _plain(SEVERITY_DEFINITIONS[s]), "value": s.value} for s in Severity
    ]
    return {
        "type": "modal",
        "callback_id": REPORT_CALLBACK,
        "private_metadata": json.dumps({"channel": channel}),
        "title": _plain("Report an incident"),
        "submit": _plain("Report"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": _plain("Title"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "initial_value": title[:200],
                    "max_length": 200,
                },
            },
            {
                "type": "input",
                "block_id": "service",
                "label": _plain("Service"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "placeholder": _plain("Choose the affected service"),
                    "options": [{"text": _plain(s.name), "value": str(s.pk)} for s in services],
                },
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": _plain("Severity"),
                "element": {"type": "static_select", "action_id": "value", "options": severities},
            },
            {
                "type": "input",
                "block_id": "impact",
                "label": _plain("Impact on users"),
                "hint": _plain("Who is affected and how? How many users?"),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
        ],
    }


def _submitted(values: dict, block: str) -> str:
    element = (values.get(block) or {}).get("value") or {}
    if not isinstance(element, dict):
        return ""
    chosen = element.get("selected_option") or {}
    return str(element.get("value") or (chosen.get("value") if isinstance(chosen, dict) else "") or "")


# Form fields -> the dialog block that shows their error.
ERROR_BLOCKS = {"title": "title", "service": "service", "severity": "severity", "impact": "impact"}


def submit_report(payload: dict) -> dict:
    """The dialog's submission: the incident is reported as the Slack member (the report form's
    own validation), or the dialog shows what is wrong. Returns Slack's response_action body."""
    member = str((payload.get("user") or {}).get("id") or "")
    view = payload.get("view") or {}
    user = beacon_user(member)
    if user is None:
        return {"response_action": "errors", "errors": {"title": link_help(member)[:150]}}
    if not user.has_perm(roles.ADD_INCIDENT):
        refusal = f"Your Beacon role ({role_name(user)}) does not allow you to report incidents."
        return {"response_action": "errors", "errors": {"title": refusal}}
    values = (view.get("state") or {}).get("values") or {}
    impact = _submitted(values, "impact")
    form = IncidentForm(
        data={
            # The dialog asks no type: Slack reports are downtime (a security incident, which is
            # need-to-know, is reported on the web, whose form asks the type first).
            "type": DEFAULT_TYPE_SLUG,
            "title": _submitted(values, "title"),
            "service": _submitted(values, "service"),
            "severity": _submitted(values, "severity"),
            "impact": impact,
            "description": impact,
            "occurred_at": timezone.now(),
            "logs": "",
        }
    )
    if not form.is_valid():
        errors: dict[str, str] = {}
        for field, messages in form.errors.items():
            block = ERROR_BLOCKS.get(field, "title")
            errors.setdefault(block, " ".join(str(m) for m in messages)[:150])
        return {"response_action": "errors", "errors": errors}
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    channel = str(metadata.get("channel") or "") if isinstance(metadata, dict) else ""
    with transaction.atomic(), workflow.via(workflow.VIA_SLACK):
        incident = workflow.report(by=user, source=Incident.Source.SLACK, **form.cleaned_data)
        done = f"{incident.ref} reported: <{slackapp.incident_url(incident)}|{slackapp.escape(incident.title)}>"
        reply_later(key=f"report:{incident.pk}", channel=channel, member=member, text=done, incident=incident)
    return {
        "response_action": "update",
        "view": {
            "type": "modal",
            "title": _plain("Incident reported"),
            "close": _plain("Done"),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": done}}],
        },
    }
