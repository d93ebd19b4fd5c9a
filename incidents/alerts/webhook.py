"""The generic webhook intake: any JSON body, read through the integration's field mapping.

A manager maps fields of the sender's body to an incident (`WebhookMapping`, checked by
`check_mapping` in the admin). Each delivery is read as the current state of one problem, named
by its deduplication key, and handed to the Alertmanager intake (`intake.receive`) as a
one-alert payload, so grouping, re-opening, mitigation and the alert panel are that intake's:

- a body that does not meet the resolve condition says the problem is firing. With no open
  alert for its key it becomes a new alert (a new incident, or the key's group's incident,
  re-opened within ALERTMANAGER_REOPEN_MINUTES); while one is open it is a repeat and changes
  nothing;
- a body that meets the resolve condition resolves the key's firing alerts, which mitigates the
  incident (a person resolves it);
- a body already applied changes nothing, also when it comes back after its problem was
  resolved: the canonical body's SHA-256 is kept with the alert it opened.

Deliveries of one integration are applied one at a time (its row is locked), so two copies of a
body sent at once open one incident. docs/webhooks-in.md describes the mapping for people.
"""

import json
from dataclasses import dataclass, field
from hashlib import sha256
from typing import ClassVar

from django.db import transaction
from django.utils.timezone import now

from incidents.alerts import heartbeat, intake, selectors
from incidents.alerts.intake import Outcome, PayloadError
from incidents.models import Alert, Incident, Integration, Severity, Status, WebhookMapping

# The firing alerts of one key a resolve delivery resolves at most (one, unless incidents were
# closed while their problem went on).
MAX_RESOLVED = 100
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_SERVICE = 100
MAX_KEY = 1000

# The mapping's fields that hold a selector, in the order errors are listed.
SELECTOR_FIELDS = ("title", "description", "severity", "service", "dedup_key", "resolve_when")
LABELS = {
    "title": "Title",
    "description": "Description",
    "severity": "Severity",
    "service": "Service",
    "dedup_key": "Deduplication key",
    "resolve_when": "Resolve when",
}

# --- the mapping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """A checked mapping: the selectors that are set, and the severity and resolve values."""

    selectors: dict[str, selectors.Selector]
    severity_map: dict[str, str]
    default_severity: str
    default_service: str
    resolve_values: frozenset[str]


class MappingError(Exception):
    """The mapping itself is wrong; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


def parse_severity_map(text: str) -> dict[str, str]:
    """`P1 = critical` lines as {"p1": "critical"}; ValueError naming the first wrong line."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        value, equals, severity = line.rpartition("=")
        value, severity = value.strip().lower(), severity.strip().lower()
        if not equals or not value:
            raise ValueError(f"Line {number} (“{line.strip()[:50]}”) is not “value = severity”, e.g. “P1 = critical”.")
        if severity not in Severity.values:
            raise ValueError(f"Line {number}: “{severity[:50]}” is not a severity ({', '.join(Severity.values)}).")
        if value in found:
            raise ValueError(f"Line {number}: the value “{value[:50]}” is listed twice.")
        found[value] = severity
    return found


def check_mapping(
    *,
    title: str,
    description: str = "",
    severity: str = "",
    severity_map: str = "",
    default_severity: str = "",
    service: str = "",
    default_service: str = "",
    dedup_key: str = "",
    resolve_when: str = "",
    resolve_values: str = "",
) -> Rules:
    """The rules these field values spell; MappingError naming every wrong field otherwise."""
    errors: dict[str, str] = {}
    given = {
        "title": title,
        "description": description,
        "severity": severity,
        "service": service,
        "dedup_key": dedup_key,
        "resolve_when": resolve_when,
    }
    parsed: dict[str, selectors.Selector] = {}
    for name, text in given.items():
        if not text.strip():
            continue
        try:
            parsed[name] = selectors.parse(text)
        except selectors.SelectorError as error:
            errors[name] = str(error)
    if not title.strip():
        errors["title"] = "Every incident needs a title: give its selector, e.g. $.title."
    try:
        values = parse_severity_map(severity_map)
    except ValueError as error:
        errors["severity_map"] = str(error)
        values = {}
    if default_severity and default_severity not in Severity.values:
        errors["default_severity"] = f"Choose one of {', '.join(Severity.values)}."
    elif not default_severity and severity_map.strip():
        errors["default_severity"] = "A severity map needs a default severity, for the values it does not list."
    elif not default_severity and not severity.strip():
        errors["default_severity"] = "Without a severity selector every incident gets the default severity: choose it."
    if severity_map.strip() and not severity.strip() and "severity_map" not in errors:
        errors["severity_map"] = "A severity map maps the value of the severity selector: give that selector too."
    resolved = frozenset(v.strip().lower() for v in resolve_values.split(",") if v.strip())
    if resolve_when.strip() and not resolved:
        errors["resolve_values"] = "Say which values of the “resolve when” selector mean resolved, e.g. “resolved”."
    elif resolved and not resolve_when.strip():
        errors["resolve_when"] = "Give the selector whose value is compared with the resolve values, e.g. $.status."
    if errors:
        raise MappingError(errors)
    return Rules(parsed, values, default_severity, default_service, resolved)


def rules_of(mapping: WebhookMapping) -> Rules:
    return check_mapping(
        title=mapping.title,
        description=mapping.description,
        severity=mapping.severity,
        severity_map=mapping.severity_map,
        default_severity=mapping.default_severity,
        service=mapping.service,
        # Read with the mapping (select_related) when it has one.
        default_service=mapping.default_service.name if mapping.default_service_id else "",
        dedup_key=mapping.dedup_key,
        resolve_when=mapping.resolve_when,
        resolve_values=mapping.resolve_values,
    )


# --- a body through the mapping --------------------------------------------------------------


@dataclass
class Mapped:
    """What a body says, read through the mapping."""

    title: str
    description: str
    severity: str
    service: str
    dedup_key: str
    resolve: bool


class Unmappable(Exception):
    """The body lacks what the mapping needs; `errors` name the field and the selector."""

    def __init__(self, errors: list[dict]):
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        super().__init__(f"{first['field']} ({first['selector']}): {first['message']}{more}")
        self.errors = errors


def parse_body(body: bytes | str) -> object:
    """The JSON of a body, any JSON value, with the characters the database cannot store replaced
    (as for Alertmanager: intake.load_json); PayloadError (400) when it is not JSON."""
    return intake.load_json(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)


class _NotText(Exception):
    pass


def _text(value: object, *, structured: bool = False) -> str:
    """A selected value as text: strings as they are, numbers and true/false as JSON writes them."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, dict | list):
        if structured:
            return json.dumps(value, indent=2, ensure_ascii=False)
        raise _NotText("an object" if isinstance(value, dict) else "a list")
    return ""  # null, or MISSING


def apply_rules(rules: Rules, data: object) -> Mapped:
    """The incident fields a body gives; Unmappable listing every field it cannot give."""
    errors: list[dict] = []
    texts: dict[str, str] = {}
    for name, selector in rules.selectors.items():
        try:
            texts[name] = _text(selector.select(data), structured=name == "description")
        except _NotText as kind:
            errors.append(
                {"field": name, "selector": str(selector), "message": f"selects {kind}, not a value; select inside it."}
            )

    def problem(name: str, message: str) -> None:
        errors.append({"field": name, "selector": str(rules.selectors[name]), "message": message})

    title = texts.get("title", "")
    if not title and not any(e["field"] == "title" for e in errors):
        problem("title", "found nothing (or an empty text) in the body, and every incident needs a title.")
    severity = rules.default_severity
    if "severity" in rules.selectors:
        value = texts.get("severity", "").lower()
        if value in rules.severity_map:
            severity = rules.severity_map[value]
        elif not rules.severity_map and value in Severity.values:
            severity = value
        elif not severity and not any(e["field"] == "severity" for e in errors):
            shown = f"“{value[:50]}” is not a severity" if value else "found nothing in the body"
            problem(
                "severity",
                f"{shown} ({', '.join(Severity.values)}), and the mapping has no default severity.",
            )
    key = texts.get("dedup_key", "") if "dedup_key" in rules.selectors else title[:MAX_TITLE]
    if "dedup_key" in rules.selectors and not key and not any(e["field"] == "dedup_key" for e in errors):
        problem("dedup_key", "found nothing in the body: without a key, deliveries cannot be told apart.")
    if len(key) > MAX_KEY:
        errors.append(
            {
                "field": "dedup_key",
                "selector": str(rules.selectors.get("dedup_key", rules.selectors["title"])),
                "message": f"gives a key longer than {MAX_KEY} characters.",
            }
        )
    if errors:
        raise Unmappable(errors)
    resolve = bool(rules.resolve_values) and texts.get("resolve_when", "").lower() in rules.resolve_values
    return Mapped(
        title=title[:MAX_TITLE],
        description=(texts.get("description") or title)[:MAX_DESCRIPTION],
        severity=severity,
        service=(texts.get("service") or rules.default_service)[:MAX_SERVICE],
        dedup_key=key,
        resolve=resolve,
    )


# --- what a delivery does --------------------------------------------------------------------


def fingerprint(integration: Integration, key: str) -> str:
    """The alert fingerprint of a key: one per integration and key (alerts are unique per
    fingerprint and start, whatever their integration)."""
    return "webhook-" + sha256(f"{integration.pk}\n{key}".encode()).hexdigest()


def digest(data: object) -> str:
    """The SHA-256 of a body's canonical JSON: a body re-sent with other spacing is the same body."""
    return sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


@dataclass
class Plan:
    """What applying a mapped body would do, decided from what is stored (nothing written)."""

    action: str  # "open", "repeat", "replay", "resolve", "nothing"
    message: str
    incident: Incident | None = None
    alerts: list[Alert] = field(default_factory=list)


def plan(integration: Integration, mapped: Mapped, body_digest: str) -> Plan:
    """Decide from the key's stored alerts; two queries at most."""
    fp = fingerprint(integration, mapped.dedup_key)
    firing = list(
        Alert.objects.filter(fingerprint=fp, status=Alert.Status.FIRING)
        .select_related("group__incident")
        .defer("group__last_payload", "group__group_labels")
        .order_by("-starts_at")[:MAX_RESOLVED]
    )
    if mapped.resolve:
        if not firing:
            return Plan("nothing", f"Nothing to resolve: no problem with the key “{mapped.dedup_key[:100]}” is open.")
        return Plan(
            "resolve",
            f"Resolves {len(firing)} alert(s) of the key “{mapped.dedup_key[:100]}”.",
            incident=firing[0].group.incident,
            alerts=firing,
        )
    open_ = [a for a in firing if a.group.is_current and a.group.incident.status != Status.CLOSED]
    if open_:
        incident = open_[0].group.incident
        return Plan(
            "repeat", f"Nothing new: the problem “{mapped.dedup_key[:100]}” is open ({incident.ref}).", incident
        )
    applied = Alert.objects.filter(fingerprint=fp, annotations__body_sha256=body_digest).select_related(
        "group__incident"
    )
    seen = applied.defer("group__last_payload", "group__group_labels").first()
    if seen is not None:
        incident = seen.group.incident
        return Plan("replay", f"Nothing new: this body was applied before ({incident.ref}).", incident)
    return Plan("open", f"Opens the problem “{mapped.dedup_key[:100]}” (a new incident, or its group's open one).")


def _beat_safe(integration: Integration, title: str) -> str:
    # The intake takes an alert named like the heartbeat for the heartbeat; a title never is one.
    return f"{title} (webhook)" if title == heartbeat.alertname_for(integration) else title


class WebhookPayload(intake.Payload):
    """A mapped body as the intake reads it: its texts name the webhook, not Alertmanager."""

    sender: ClassVar[str] = "The webhook"
    alert_kind: ClassVar[str] = "a webhook delivery"
    shape: ClassVar[str] = "a generic webhook body mapped by its integration's mapping"


def _payload(integration: Integration, mapped: Mapped, chosen: Plan, body_digest: str) -> intake.Payload:
    """The one-alert Alertmanager payload that applies the plan through intake.receive."""
    key = mapped.dedup_key
    if chosen.action == "resolve":
        at = now()
        alerts = [
            intake.AlertIn(
                status="resolved",
                labels=alert.labels,
                annotations=alert.annotations,
                startsAt=alert.starts_at,
                endsAt=at,
                fingerprint=alert.fingerprint,
            )
            for alert in chosen.alerts
        ]
        return WebhookPayload(version="4", groupKey=key, status="resolved", receiver=integration.name, alerts=alerts)
    labels = {
        "alertname": _beat_safe(integration, mapped.title),
        "service": mapped.service,
        "severity": mapped.severity,
        "dedup_key": key,
    }
    annotations = {
        "summary": mapped.title,
        "description": mapped.description,
        "impact": f"Not assessed yet: this incident was opened from the webhook “{integration.name}”. "
        "Describe the effect on users.",
        "body_sha256": body_digest,
    }
    alert = intake.AlertIn(
        status="firing",
        labels=labels,
        annotations=annotations,
        startsAt=now(),
        fingerprint=fingerprint(integration, key),
    )
    return WebhookPayload(
        version="4",
        groupKey=key,
        status="firing",
        receiver=integration.name,
        commonAnnotations={"summary": mapped.title},
        alerts=[alert],
    )


def receive(integration: Integration, body: bytes) -> Outcome:
    """Apply one delivery: PayloadError (400/422) when it cannot be, nothing written then."""
    data = parse_body(body)
    try:
        mapping = integration.webhook_mapping
    except WebhookMapping.DoesNotExist:
        raise PayloadError(
            f"The integration “{integration.name}” has no field mapping yet: a manager sets it in the admin "
            "(Webhook mappings).",
            status=422,
        ) from None
    try:
        rules = rules_of(mapping)
    except MappingError as error:
        message = f"The integration's field mapping is invalid ({error}); a manager fixes it in the admin."
        raise PayloadError(message, status=422) from None
    try:
        mapped = apply_rules(rules, data)
    except Unmappable as error:
        raise PayloadError(str(error), status=422, errors=error.errors) from None
    body_digest = digest(data)
    with transaction.atomic():
        # One delivery of this integration at a time: the plan holds until it is applied.
        Integration.objects.select_for_update().filter(pk=integration.pk).values_list("pk").first()
        chosen = plan(integration, mapped, body_digest)
        if chosen.action in ("nothing", "repeat", "replay"):
            return Outcome(chosen.message, incident=chosen.incident, incidents=_refs(chosen.incident))
        return intake.receive(integration, _payload(integration, mapped, chosen, body_digest), data)


def _refs(incident: Incident | None) -> list[str]:
    return [incident.ref] if incident else []


# --- the admin's "try it" ------------------------------------------------------------------


@dataclass
class Trial:
    """What a pasted body would do: the mapped fields and the plan, or the errors."""

    mapped: Mapped | None = None
    plan: Plan | None = None
    errors: list[dict] = field(default_factory=list)


def try_body(rules: Rules, body: str, integration: Integration | None) -> Trial:
    """Read a pasted body as a delivery would be read, writing nothing."""
    try:
        data = parse_body(body)
    except PayloadError as error:
        return Trial(errors=[{"field": "body", "selector": "", "message": str(error)}])
    try:
        mapped = apply_rules(rules, data)
    except Unmappable as error:
        return Trial(errors=error.errors)
    chosen = plan(integration, mapped, digest(data)) if integration is not None and integration.pk else None
    return Trial(mapped=mapped, plan=chosen)
