"""The alert intake: an Alertmanager webhook payload (version 4), or Grafana Alerting's (version
1, incidents/alerts/grafana.py, read into the same objects), in; incidents and alerts out.

Alertmanager re-sends a whole group every repeat interval and after every failure, and
an HA pair sends everything twice, so a payload is read as "the current state of these
alerts", never as "a new event". An alert is identified by (fingerprint, startsAt);
applying a payload already applied changes nothing at all.

`parse(body)` validates (PayloadError with the HTTP status and a message naming the
field); `receive(integration, payload)` applies it in one transaction, through
`incidents/workflow.py` for every timeline entry and status change.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from hashlib import sha1
from typing import ClassVar, Literal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Field as ModelField
from django.db.models import Max, Model, Q
from django.utils.text import slugify
from django.utils.timezone import now
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from incidents import reference, typefields, workflow
from incidents.alerts import heartbeat, silences
from incidents.models import (
    Alert,
    AlertGroup,
    Incident,
    IncidentType,
    Integration,
    Service,
    Severity,
    Status,
    TimelineEntry,
    plain,
)

logger = logging.getLogger(__name__)

Kind = TimelineEntry.Kind

# Alerts written into an incident's logs and a timeline entry's text; the panel shows them all.
LISTED_ALERTS = 20
UNKNOWN_SERVICE = "Unlabelled alerts"
# The source of an incident opened for an integration of another kind than Alertmanager's
# (the generic webhook hands its deliveries to receive() as Alertmanager payloads: webhook.py).
SOURCE_OF_KIND = {Integration.Kind.WEBHOOK: Incident.Source.WEBHOOK}

# --- the payload -----------------------------------------------------------------------


class PayloadError(Exception):
    """The request cannot be applied; `status` is the HTTP answer, `str()` the message."""

    def __init__(self, message: str, *, status: int, errors: list[dict] | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or []


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=128)

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.fingerprint, self.startsAt)

    @property
    def ends_at(self) -> datetime | None:
        # Firing alerts carry endsAt 0001-01-01 (or a guess in the future): not an end.
        if self.status != "resolved" or self.endsAt is None or self.endsAt.year < 1970:
            return None
        return self.endsAt if self.endsAt.tzinfo else self.endsAt.replace(tzinfo=UTC)


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # Who sent it, in the texts the intake writes (timeline entries, the incident's impact).
    sender: ClassVar[str] = "Alertmanager"
    alert_kind: ClassVar[str] = "a Prometheus alert"
    shape: ClassVar[str] = "Alertmanager webhook version 4"

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=4000)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    alerts: list[AlertIn] = Field(min_length=1, max_length=10000)


# PostgreSQL text rejects NUL and jsonb rejects \u0000; a lone surrogate cannot be encoded at all.
# A 4xx would make Alertmanager drop the alert, so such characters are replaced, not refused.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


# Where the JSON text can hold such a character: the character itself, or an escape of NUL or of
# a surrogate (a valid pair is caught too, and merely cleaned for nothing).
_MAYBE_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]|\\u(?:0000|[dD][89a-fA-F])")


def _clean(value):
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def load_json(body: bytes):
    """The decoded JSON body, unstorable characters replaced; PayloadError (400) when it is not JSON.

    The walk that replaces them runs only when the text may hold one: a re-sent group of
    thousands of alerts is read once, by the JSON parser, and not a second time by `_clean`.
    """
    try:
        # As json.loads(bytes) does (UTF-8, -16 or -32; surrogatepass), with the text kept.
        text = body.decode(json.detect_encoding(body), "surrogatepass")
        data = json.loads(text)
        # ASCII text without escapes holds no such character (checked at C speed, unlike the regex).
        plain = text.isascii() and "\\u" not in text and "\x00" not in text
        return data if plain or not _MAYBE_UNSTORABLE.search(text) else _clean(data)
    except RecursionError:
        raise PayloadError("The body is JSON nested too deeply.", status=400) from None
    except ValueError as error:
        raise PayloadError(f"The body is not JSON: {error}", status=400) from None


def validation_error(error: ValidationError) -> PayloadError:
    """A 422 naming the first field that is wrong (and how many more are), every problem listed."""
    errors = [
        {"field": ".".join(str(part) for part in e["loc"]) or "(payload)", "message": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)
    ]
    first = errors[0]
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return PayloadError(f"{first['field']}: {first['message']}{more}", status=422, errors=errors)


def parse(body: bytes, model: type[Payload] = Payload) -> tuple[Payload, dict]:
    """The validated payload and the cleaned JSON it came from; PayloadError (400/422) otherwise."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise PayloadError(f"The payload must be a JSON object ({model.shape}).", status=422)
    try:
        return model.model_validate(data), data
    except ValidationError as error:
        raise validation_error(error) from None


# --- applying it -----------------------------------------------------------------------


@dataclass
class Outcome:
    message: str
    incident: Incident | None = None
    created: bool = False
    changed: bool = False
    incidents: list[str] = field(default_factory=list)
    # Problems that did not stop the alerts being stored (an unknown incident_type label).
    warnings: list[dict] = field(default_factory=list)


class Contention(Exception):
    """Another delivery of the same group won a race this one lost twice; Alertmanager should retry."""


class _Retry(Exception):
    """Another delivery opened the group's incident first: apply the payload again, joining it."""


def receive(integration: Integration, payload: Payload, raw: dict) -> Outcome:
    """Apply one payload in one transaction; a repeat of one already applied writes nothing."""
    beat_name = heartbeat.alertname_for(integration)
    beats = [a for a in payload.alerts if a.labels.get("alertname") == beat_name]
    alerts = [a for a in payload.alerts if a.labels.get("alertname") != beat_name]
    in_force = silences.InForce(now())
    with transaction.atomic():
        if any(a.status == "firing" for a in beats):
            heartbeat.beat(integration)
        if not alerts:
            return Outcome("Heartbeat received." if beats else "Nothing to do.")
        # Every statement below looks rows up by key: planned once per connection (models/plain.py).
        plain.generic_plans()
        if any(a.status == "firing" for a in alerts):
            # A firing alert may be new: read what is in force before the group's lock, taken first
            # thing in _apply, so that the lock is held for this delivery's own work only. (A payload
            # that only resolves alerts seldom brings a new one: read then, if ever.)
            in_force.load()
        # No savepoint around a try: _Retry is raised only by _home_for, after its own savepoint
        # rolled back the losing incident, and nothing written before it needs undoing (a group
        # retired there stays retired: the winner retired it too).
        try:
            outcome = _apply(integration, payload, alerts, raw, in_force)
        except _Retry:
            try:
                outcome = _apply(integration, payload, alerts, raw, in_force)
            except _Retry:
                raise Contention from None
    return outcome


# Long texts the intake never reads, left unread on every delivery (the last payload can hold
# thousands of alerts). A field read anyway is fetched on access, never lost.
_NOT_NEEDED = (
    "last_payload",
    "group_labels",
    "incident__description",
    "incident__impact",
    "incident__logs",
    "incident__resolution_summary",
    "incident__service__description",
    "incident__service__runbook",
)


def _current_group(integration: Integration, key: str) -> AlertGroup | None:
    """The current group of `key`, with its incident (and the incident's service and type).

    Locks the group row and its incident in one statement: deliveries of one group are applied
    one after the other, and every change below is made to the incident as locked here. Plain
    SQL, built once (incidents/models/plain.py): the ORM took longer to build this four-table
    statement (1.6 ms) than the database took to run it, on every delivery, with the group's
    lock held by the one before.
    """
    with connection.cursor() as cursor:
        cursor.execute(_current_group_sql(), [integration.pk, key, True])
        row = cursor.fetchone()
    if row is None:
        return None
    group, incident, service, incident_type = plain.split(row, _current_group_layout())
    incident.service, incident.type = service, incident_type
    group.incident = incident
    return group


@lru_cache(maxsize=1)
def _current_group_layout() -> plain.Layout:
    """Each model the statement reads, with its columns (those in _NOT_NEEDED left unread)."""

    def kept(model: type[Model], path: str) -> list[ModelField]:
        return plain.fields_of(model, {name.removeprefix(path) for name in _NOT_NEEDED if name.startswith(path)})

    return [
        (AlertGroup, kept(AlertGroup, "")),
        (Incident, kept(Incident, "incident__")),
        (Service, kept(Service, "incident__service__")),
        (IncidentType, kept(IncidentType, "incident__type__")),
    ]


@lru_cache(maxsize=1)
def _current_group_sql() -> str:
    layout = _current_group_layout()
    selected = ", ".join(plain.columns(alias, fields) for alias, (_, fields) in zip("gist", layout, strict=True))
    group, incident, service, incident_type = (connection.ops.quote_name(m._meta.db_table) for m, _ in layout)
    lock = " FOR UPDATE OF g, i" if connection.features.has_select_for_update_of else ""
    return (
        f"SELECT {selected} FROM {group} g JOIN {incident} i ON i.id = g.incident_id "
        f"JOIN {service} s ON s.id = i.service_id JOIN {incident_type} t ON t.id = i.type_id "
        f"WHERE g.integration_id = %s AND g.group_key = %s AND g.is_current = %s{lock}"
    )


def _lock_incident(pk: int) -> Incident:
    return Incident.objects.select_for_update(of=("self",)).select_related("service", "type").get(pk=pk)


def _apply(
    integration: Integration, payload: Payload, alerts: list[AlertIn], raw: dict, in_force: silences.InForce
) -> Outcome:
    group = _current_group(integration, payload.groupKey)
    # One alert per key: the last one listed says its current state.
    by_key = {a.key: a for a in alerts}
    stored = _stored_states(by_key)
    # New alerts a silence in force holds back are recorded there and go no further (alerts/silences.py).
    new, silenced = silences.hold_back([a for key, a in by_key.items() if key not in stored], in_force)
    # A firing repeat of an alert already resolved is stale (Alertmanager re-sends old state): ignored.
    resolving = _firing_rows(
        [
            stored[key][0]
            for key, a in by_key.items()
            if a.status == "resolved" and key in stored and stored[key][1] == Alert.Status.FIRING
        ]
    )
    ends = {key: a.ends_at for key, a in by_key.items()}
    truncated = group is not None and payload.truncatedAlerts > group.truncated_alerts

    if not new and not resolving and not truncated:
        if silenced:
            return Outcome(f"{len(silenced)} alert(s) silenced: recorded, no incident opened.", changed=True)
        ref = group.incident.ref if group else None
        return Outcome(f"Nothing new: every alert of this payload is already stored{f' ({ref})' if ref else ''}.")

    outcome = Outcome("", changed=True)
    touched: dict[int, AlertGroup] = {}
    # Each incident as locked in this transaction (re-read by every workflow move that changes it).
    locked: dict[int, Incident] = {group.incident_id: group.incident} if group is not None else {}

    def lock(pk: int) -> Incident:
        if pk not in locked:
            locked[pk] = _lock_incident(pk)
        return locked[pk]

    # The group that now holds a firing alert for certain: no need to ask whether all resolved.
    fired: int | None = None
    if new:
        # Also after a retirement or a lost race: from here on `group` is where new alerts went.
        group, incident, created = _home_for(integration, payload, raw, group, new, outcome)
        locked[incident.pk] = incident
        outcome.created = created
        _store(group, incident, new, initial=created, in_force=in_force)
        touched[group.pk] = group
        if any(a.status == "firing" for a in new):
            fired = group.pk
    for alert in resolving:
        incident = lock(alert.group.incident_id)
        alert.status = Alert.Status.RESOLVED
        alert.ends_at = ends[(alert.fingerprint, alert.starts_at)] or now()
        alert.save(update_fields=["status", "ends_at"])
        _record_resolved(incident, alert)
        touched.setdefault(alert.group_id, alert.group)
    if group is not None and payload.truncatedAlerts > group.truncated_alerts:
        incident = lock(group.incident_id)
        group.truncated_alerts = payload.truncatedAlerts
        workflow.record(
            incident,
            by=None,
            kind=Kind.ALERT_FIRED,
            text=f"{payload.sender} left {payload.truncatedAlerts} alert(s) out of its payload; "
            "the alert list here may be incomplete.",
            truncated_alerts=payload.truncatedAlerts,
            group_key=payload.groupKey,
        )
        touched[group.pk] = group

    for touched_group in touched.values():
        if touched_group.pk != fired:
            _mitigate_when_all_resolved(touched_group, lock(touched_group.incident_id), payload.sender)
        outcome.incidents.append(f"INC-{touched_group.incident_id}")
    # A group this payload created was stored with it, unless the truncation changed it since.
    stored_with_payload = outcome.created and not payload.truncatedAlerts
    if group is not None and not stored_with_payload:
        group.last_payload = raw
        group.last_payload_at = now()
        group.receiver = payload.receiver[:200]
        group.external_url = payload.externalURL
        # Plain SQL (models/plain.py): built on every delivery of the group, under its lock.
        plain.update(group, ["truncated_alerts", "last_payload", "last_payload_at", "receiver", "external_url"])

    # The reference and type the answer names never change, so the locked copy serves.
    outcome.incident = lock(group.incident_id) if group else None
    parts = [f"{len(new)} new alert(s)"] if new else []
    if resolving:
        parts.append(f"{len(resolving)} resolved")
    if outcome.created:
        outcome.message = f"{outcome.incident.ref} opened with {len(new)} alert(s)."
    else:
        outcome.message = f"{', '.join(outcome.incidents)}: {', '.join(parts) or 'updated'}."
    if silenced:
        outcome.message += f" {len(silenced)} alert(s) silenced."
    return outcome


def _stored_states(by_key: dict[tuple[str, datetime], AlertIn]) -> dict[tuple[str, datetime], tuple[int, str]]:
    """{key: (pk, status)} of the payload's alerts already stored, as bare values.

    A re-sent group is thousands of known alerts: no model instances, labels or groups are
    built for them, and the lookup walks the (fingerprint, starts_at) index once per
    fingerprint within the payload's time span (two IN lists made SQLite try every pair).
    """
    if not by_key:
        return {}
    # Plain SQL (models/plain.py): the ORM built this on every delivery, under the group's lock.
    fingerprints = sorted({fingerprint for fingerprint, _ in by_key})
    starts = [start for _, start in by_key]
    quote = connection.ops.quote_name
    table = quote(Alert._meta.db_table)
    sql = (
        f"SELECT fingerprint, starts_at, id, status FROM {table} WHERE fingerprint IN "
        f"({', '.join(['%s'] * len(fingerprints))}) AND starts_at >= %s AND starts_at <= %s"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [*fingerprints, adapt(min(starts)), adapt(max(starts))])
        rows = cursor.fetchall()
    starts_at = Alert._meta.get_field("starts_at")
    # Rows of other keys (a flapping alert's earlier firings) are never asked for.
    return {(f, plain.value_of(starts_at, s)): (pk, status) for f, s, pk, status in rows}


def _firing_rows(pks: list[int]) -> list[Alert]:
    """The stored alerts to mark resolved, with their groups, in the payload's order."""
    if not pks:
        return []
    rows = Alert.objects.filter(pk__in=pks).select_related("group").defer("group__last_payload", "group__group_labels")
    found = {row.pk: row for row in rows}
    return [found[pk] for pk in pks]


def _home_for(
    integration: Integration,
    payload: Payload,
    raw: dict,
    group: AlertGroup | None,
    new: list[AlertIn],
    outcome: Outcome,
) -> tuple[AlertGroup, Incident, bool]:
    """The group (and locked incident) new alerts join: the current one, reopened, or a new one."""
    firing = [a for a in new if a.status == "firing"]
    if group is not None:
        incident = group.incident  # locked with the group
        if incident.duplicate_of_id is not None:
            # Closed into its primary (workflow.mark_duplicate): the group's new alerts join it there.
            incident = _lock_incident(incident.duplicate_of_id)
        window = timedelta(minutes=settings.ALERTMANAGER_REOPEN_MINUTES)
        too_old = incident.status == Status.RESOLVED and incident.resolved_at < now() - window
        if incident.status == Status.CLOSED or too_old:
            # That incident is over: the group starts afresh with a new one.
            group.is_current = False
            group.save(update_fields=["is_current"])
        else:
            if incident.status == Status.RESOLVED and firing:
                incident = workflow.reopen(
                    incident,
                    by=None,
                    reason=f"The alert group fired again within {settings.ALERTMANAGER_REOPEN_MINUTES} minutes "
                    f"of the resolution: {_alert_list(firing)}.",
                )
            elif incident.status == Status.MITIGATED and firing:
                # The mitigation did not hold: the incident is active again (and the lead hears of it).
                incident = workflow.reactivate(
                    incident, by=None, reason=f"The alert group fired again: {_alert_list(firing)}."
                )
            return group, incident, False
    try:
        # A savepoint: when another delivery of this group committed its incident first, this
        # one's incident, entries and group row all roll back and the payload is applied again.
        with transaction.atomic():
            incident = _open_incident(integration, payload, new, outcome)
            group = AlertGroup(
                integration=integration,
                group_key=payload.groupKey,
                incident=incident,
                group_labels=payload.groupLabels,
                receiver=payload.receiver[:200],
                external_url=payload.externalURL,
                last_payload=raw,
                last_payload_at=now(),
            )
            plain.insert(group)  # no signal listens to groups (models/plain.py)
    except IntegrityError:
        raise _Retry from None
    # No lock needed: no other transaction sees this incident before the commit. `report` keeps
    # the object current (the on-call lead it assigned included).
    return group, incident, True


def _open_incident(integration: Integration, payload: Payload, new: list[AlertIn], outcome: Outcome) -> Incident:
    firing = [a for a in new if a.status == "firing"] or new
    first = firing[0]
    labels = {**first.labels, **payload.commonLabels}
    incident_type = _incident_type(integration, labels.get("incident_type", ""), outcome)
    annotations = {**first.annotations, **payload.commonAnnotations}
    severity = min((_severity(a.labels) for a in firing), key=lambda s: Severity(s).rank)
    # The type's custom fields from labels or annotations of the same name (labels win). An
    # invalid value never loses the alert: it is left unset, and said on the timeline.
    custom_fields, invalid = typefields.from_labels(incident_type, {**annotations, **labels})
    incident = workflow.report(
        by=None,
        title=_title(first, payload.commonAnnotations, len(firing)) or f"Alert from {payload.sender}",
        description=annotations.get("description") or annotations.get("summary") or _describe(first) + ".",
        impact=annotations.get("impact")
        or f"Not assessed yet: this incident was opened from {payload.alert_kind}. Describe the effect on users.",
        logs=_logs(new),
        occurred_at=min(a.startsAt for a in new),
        severity=severity,
        service=_service(labels.get("service") or labels.get("job") or "", payload.sender),
        source=SOURCE_OF_KIND.get(integration.kind, Incident.Source.ALERTMANAGER),
        type=incident_type,
        custom_fields=custom_fields,
    )
    if invalid:
        _note_invalid_fields(incident, invalid, outcome)
    return incident


def _note_invalid_fields(incident: Incident, invalid: list[tuple[str, str, str]], outcome: Outcome) -> None:
    """One timeline entry naming each custom field an alert gave an invalid value, left unset."""
    lines = [f"- `{name}`: “{value[:200]}” — {message}" for name, value, message in invalid]
    workflow.record(
        incident,
        by=None,
        kind=Kind.NOTE,
        text="Alert labels gave invalid values for these fields; they were left not set:\n\n" + "\n".join(lines),
        custom_fields_not_set=[name for name, _, _ in invalid],
    )
    for name, _, message in invalid:
        outcome.warnings.append({"field": f"labels.{name}", "message": f"Left not set: {message}"})


def _incident_type(integration: Integration, label: str, outcome: Outcome) -> IncidentType:
    """The type the `incident_type` label names (a slug or a name, any case); without the label,
    the integration's default type, else Downtime. An unknown name does not lose the alert (a 4xx
    would make Alertmanager drop it): the default is used and the answer names the label."""
    fallback = integration.default_incident_type or workflow.default_type()
    label = label.strip()
    if not label:
        return fallback
    found = reference.kept(
        ("type", label),
        lambda: IncidentType.objects.filter(Q(slug__iexact=label) | Q(name__iexact=label)).order_by("pk").first(),
    )
    if found is None:
        known = ", ".join(IncidentType.objects.values_list("slug", flat=True))
        outcome.warnings.append(
            {
                "field": "labels.incident_type",
                "message": f"There is no incident type “{label[:100]}”; {fallback.slug} was used. "
                f"The types are: {known}.",
            }
        )
        return fallback
    return found


def _severity(labels: dict[str, str]) -> str:
    value = labels.get("severity", "").strip().lower()
    return settings.ALERTMANAGER_SEVERITY_MAP.get(value, settings.ALERTMANAGER_DEFAULT_SEVERITY)


def _title(alert: AlertIn, common: dict[str, str], count: int) -> str:
    """The group's common summary; else the first alert's summary (or name and instance), +N more."""
    if common.get("summary"):
        return common["summary"].strip()[:200]
    title = alert.annotations.get("summary") or _describe(alert)
    if count > 1:
        title += f" (+{count - 1} more)"
    return title.strip()[:200]


def _describe(alert: AlertIn | Alert) -> str:
    labels = alert.labels
    name = labels.get("alertname") or "Alert"
    instance = labels.get("instance")
    return f"{name} on {instance}" if instance else name


def _alert_list(alerts) -> str:
    names = [_describe(a) for a in alerts[:LISTED_ALERTS]]
    more = f" and {len(alerts) - LISTED_ALERTS} more" if len(alerts) > LISTED_ALERTS else ""
    return ", ".join(names) + more


def _logs(alerts: list[AlertIn]) -> str:
    blocks = []
    for alert in alerts[:LISTED_ALERTS]:
        lines = [f"{_describe(alert)} ({alert.status} since {alert.startsAt:%Y-%m-%d %H:%M:%S %Z})"]
        lines += [f"  {name}={value}" for name, value in sorted(alert.labels.items())]
        if alert.generatorURL:
            lines.append(f"  Source: {alert.generatorURL}")
        blocks.append("\n".join(lines))
    if len(alerts) > LISTED_ALERTS:
        blocks.append(f"… and {len(alerts) - LISTED_ALERTS} more alerts (see the alert group panel).")
    return "\n\n".join(blocks)


def _service(name: str, sender: str) -> Service:
    """The service named by the alert's labels, created when Beacon does not know it yet."""
    name = name.strip()[:100] or UNKNOWN_SERVICE
    slug = slugify(name)[:100] or f"service-{sha1(name.encode()).hexdigest()[:8]}"
    found = reference.kept(
        ("service", name, slug),
        lambda: Service.objects.filter(Q(name__iexact=name) | Q(slug=slug)).order_by("pk").first(),
    )
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Service.objects.create(
                name=name, slug=slug, description=f"Created by the {sender} intake for an alert's service label."
            )
    except IntegrityError:
        # Another delivery created it a moment ago.
        return Service.objects.filter(Q(name__iexact=name) | Q(slug=slug)).order_by("pk").first()


def _alert_data(alert: AlertIn | Alert) -> dict:
    starts = alert.startsAt if isinstance(alert, AlertIn) else alert.starts_at
    return {
        "fingerprint": alert.fingerprint,
        "starts_at": starts.isoformat(),
        "alertname": alert.labels.get("alertname", ""),
        "instance": alert.labels.get("instance", ""),
        "severity": alert.labels.get("severity", ""),
        "labels": alert.labels,
    }


def _store(
    group: AlertGroup, incident: Incident, new: list[AlertIn], *, initial: bool, in_force: silences.InForce
) -> None:
    rows = [
        Alert(
            group=group,
            fingerprint=a.fingerprint,
            starts_at=a.startsAt,
            # A resolved alert without a usable endsAt ended, at the latest, now.
            ends_at=a.ends_at or (now() if a.status == "resolved" else None),
            status=a.status,
            labels=a.labels,
            annotations=a.annotations,
            generator_url=a.generatorURL,
        )
        for a in new
    ]
    # Plain INSERTs (models/plain.py), under the group's lock: no signal listens to alerts.
    plain.insert(*rows)
    firing = [a for a in new if a.status == "firing"]
    if firing:
        during, maintenance = silences.maintenance_note(incident.service_id, in_force)
        workflow.record(
            incident,
            by=None,
            kind=Kind.ALERT_FIRED,
            text=f"{len(firing)} alert(s) fired: {_alert_list(firing)}{during}."
            if len(firing) > 1
            else f"{_describe(firing[0])} fired{during}.",
            group_key=group.group_key,
            initial=initial,
            count=len(firing),
            alerts=[_alert_data(a) for a in firing[:LISTED_ALERTS]],
            **maintenance,
        )
    for row in rows:
        if row.status == Alert.Status.RESOLVED:
            # Beacon never saw this one fire (it was down, or the alert was shorter than group_wait).
            _record_resolved(incident, row)


def _record_resolved(incident: Incident, alert: Alert) -> None:
    workflow.record(
        incident,
        by=None,
        kind=Kind.ALERT_RESOLVED,
        text=f"{_describe(alert)} resolved at {alert.ends_at:%Y-%m-%d %H:%M:%S %Z}.",
        ends_at=alert.ends_at.isoformat(),
        group_key=alert.group.group_key if alert.group_id else "",
        **_alert_data(alert),
    )


def _mitigate_when_all_resolved(group: AlertGroup, incident: Incident, sender: str) -> None:
    # Only here, after a payload changed something: a repeat never reaches this point.
    # `incident` is the group's, locked.
    if group.alerts.filter(status=Alert.Status.FIRING).exists():
        return
    if incident.status not in (Status.REPORTED, Status.ACKNOWLEDGED):
        # Mitigated or resolved by a person already; Beacon never resolves by itself.
        return
    last_end = group.alerts.aggregate(last=Max("ends_at"))["last"] or now()
    workflow.mitigate(
        incident,
        by=None,
        source_resolved_at=last_end,
        text=f"{sender} reports every alert of this group resolved (the last at {last_end:%H:%M:%S %Z}). "
        "A person still has to confirm that users are no longer affected and resolve the incident.",
    )
