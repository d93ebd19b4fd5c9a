"""Data retention: what the policy managers set on /retention/ (RetentionPolicy) removes, and
removing it (docs/retention.md).

* Closed incidents past their years (restricted ones may have their own) are purged (deleted,
  and with them their timeline, alerts, deliveries, status updates, tasks and, unless kept, their
  review) or anonymised: every personal datum goes, the service, type, severity, source, status
  and times stay, so /reports/, MTTR and error budgets count them as before. Open incidents are
  never touched; nor are resolved ones not yet closed.
* With "keep reviews" an incident that has a review is anonymised even when the policy purges:
  the review needs its incident (one-to-one) and is the organisation's lesson.
* The delivery ledger (sent and failed notifications), with the records of silenced alerts, and
  finished task rows go after their days.

`preview()` says what a run would remove (counts and the oldest date per kind) and changes
nothing; `apply()` removes it in batches of `batch` incidents or rows, each batch its own short
transaction (row locks on the incidents it takes, never a table lock), so a run stopped half way
leaves whole batches done and the next run carries on. Each real run is a RetentionRun row,
recorded in the audit log like every change of the policy (incidents/audit.py).

Composing top, not core: a purge or anonymisation of a public incident must bump the status
page's cache (incidents/statuspage/cache.py) in its transaction, as bulk writes must.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.db import transaction
from django.db.models import CharField, Count, Exists, F, Min, OuterRef, Q, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Concat, JSONObject
from django.utils.timezone import now
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from incidents.models import (
    Alert,
    AlertGroup,
    EmailActionUse,
    InboundMail,
    Incident,
    IncidentLink,
    Notification,
    RetentionPolicy,
    RetentionRun,
    RoleAssignment,
    SilencedAlert,
    SlackChannel,
    StatusUpdate,
    Subscription,
    Task,
    TimelineEntry,
    UserReport,
)
from incidents.statuspage import cache

BATCH = 200

# The kinds a preview and a run count, in the order the page and the command show them.
KINDS = {
    "incidents_purged": "Incidents purged",
    "incidents_anonymised": "Incidents anonymised",
    "timeline_entries": "Timeline entries (purged or anonymised with their incident)",
    "alerts": "Alerts (purged, or kept with their alert name only)",
    "incident_deliveries": "Deliveries of those incidents (deleted)",
    "reviews_deleted": "Reviews deleted",
    "delivery_ledger": "Delivery ledger rows (sent or failed) past their days",
    "silenced_alerts": "Records of silenced alerts past the same days",
    "task_rows": "Finished task rows past their days",
}

# What a status or severity change's data may keep: the move itself, never who (acknowledge
# stores the new lead's name).
KEPT_CHANGE_DATA = ("old", "new", "raised", "reopened", "reactivated", "confirmed")
FINISHED_TASKS = [TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED]
FINISHED_DELIVERIES = [Notification.State.SENT, Notification.State.FAILED]


@dataclass
class Line:
    kind: str
    count: int
    oldest: datetime | None

    @property
    def label(self) -> str:
        return KINDS[self.kind]


def years_before(at: datetime, years: int) -> datetime:
    """`at` moved back whole calendar years (29 February becomes the 28th in a common year)."""
    try:
        return at.replace(year=at.year - years)
    except ValueError:
        return at.replace(year=at.year - years, day=28)


def _review_model():
    """Reviews plug into the core and nothing imports them (docs/architecture.md): their model is
    looked up in the app registry, None when the app is not installed. (A review is one-to-one
    with its incident and deleted with it.)"""
    return apps.get_model("reviews", "Review") if apps.is_installed("reviews") else None


def expired(policy: RetentionPolicy, at: datetime) -> QuerySet[Incident]:
    """Closed incidents past their retention (restricted ones by their own years when set)."""
    years = policy.incident_years
    restricted_years = policy.restricted_years or years
    condition = Q(pk__in=[])
    if years:
        condition |= Q(restricted=False, closed_at__lt=years_before(at, years))
    if restricted_years:
        condition |= Q(restricted=True, closed_at__lt=years_before(at, restricted_years))
    return Incident.objects.filter(condition, status=Incident.Status.CLOSED, closed_at__isnull=False)


def _has_review() -> Q:
    return Q(review__isnull=False) if _review_model() is not None else Q(pk__in=[])


def to_purge(policy: RetentionPolicy, at: datetime) -> QuerySet[Incident]:
    if policy.action != RetentionPolicy.Action.PURGE:
        return Incident.objects.none()
    found = expired(policy, at)
    return found.exclude(_has_review()) if policy.keep_reviews else found


def to_anonymise(policy: RetentionPolicy, at: datetime) -> QuerySet[Incident]:
    """Expired incidents to anonymise: never anonymised, or written to since (a closed incident
    still takes notes and edits: they are anonymised by the next run)."""
    written_since = Exists(
        TimelineEntry.objects.filter(incident=OuterRef("pk"), created_at__gt=OuterRef("anonymised_at"))
    )
    found = expired(policy, at).filter(
        Q(anonymised_at__isnull=True) | Q(updated_at__gt=F("anonymised_at")) | written_since
    )
    if policy.action == RetentionPolicy.Action.ANONYMISE:
        return found
    return found.filter(_has_review()) if policy.keep_reviews else found.none()


def reviews_to_delete(policy: RetentionPolicy, at: datetime) -> QuerySet | None:
    """Reviews of expired incidents that are not purged with them (anonymised, now or earlier)."""
    Review = _review_model()
    if Review is None or policy.keep_reviews:
        return None
    kept_incidents = expired(policy, at).exclude(pk__in=to_purge(policy, at).values("pk"))
    return Review.objects.filter(incident__in=kept_incidents.values("pk"))


def delivery_ledger(policy: RetentionPolicy, at: datetime) -> QuerySet[Notification]:
    if not policy.delivery_days:
        return Notification.objects.none()
    return Notification.objects.filter(
        state__in=FINISHED_DELIVERIES, created_at__lt=at - timedelta(days=policy.delivery_days)
    )


def silenced_alerts(policy: RetentionPolicy, at: datetime) -> QuerySet[SilencedAlert]:
    """The records of alerts a silence held back (incidents/alerts/silences.py): a ledger of
    what was not delivered, kept as long as the delivery ledger."""
    if not policy.delivery_days:
        return SilencedAlert.objects.none()
    return SilencedAlert.objects.filter(received_at__lt=at - timedelta(days=policy.delivery_days))


def task_rows(policy: RetentionPolicy, at: datetime) -> QuerySet[DBTaskResult]:
    return DBTaskResult.objects.filter(status__in=FINISHED_TASKS, finished_at__lt=at - timedelta(days=policy.task_days))


def _line(kind: str, queryset: QuerySet | None, field: str) -> Line:
    if queryset is None:
        return Line(kind, 0, None)
    found = queryset.aggregate(count=Count("pk"), oldest=Min(field))
    return Line(kind, found["count"], found["oldest"])


def preview(policy: RetentionPolicy | None = None, at: datetime | None = None) -> list[Line]:
    """What a run now would remove: one line per kind, with the oldest date. Changes nothing;
    one aggregate query per kind."""
    policy = policy or RetentionPolicy.current()
    at = at or now()
    purged = to_purge(policy, at)
    anonymised = to_anonymise(policy, at)
    touched = Q(incident__in=purged.values("pk")) | Q(incident__in=anonymised.values("pk"))
    return [
        _line("incidents_purged", purged, "closed_at"),
        _line("incidents_anonymised", anonymised, "closed_at"),
        _line("timeline_entries", TimelineEntry.objects.filter(touched), "created_at"),
        _line(
            "alerts",
            Alert.objects.filter(
                Q(group__incident__in=purged.values("pk")) | Q(group__incident__in=anonymised.values("pk"))
            ),
            "received_at",
        ),
        _line("incident_deliveries", Notification.objects.filter(touched), "created_at"),
        _line("reviews_deleted", _reviews_going(policy, at), "created_at"),
        _line("delivery_ledger", delivery_ledger(policy, at).exclude(touched), "created_at"),
        _line("silenced_alerts", silenced_alerts(policy, at), "received_at"),
        _line("task_rows", task_rows(policy, at), "finished_at"),
    ]


def _reviews_going(policy: RetentionPolicy, at: datetime) -> QuerySet | None:
    """Every review a run removes: with purged incidents (the cascade) and of anonymised ones."""
    Review = _review_model()
    if Review is None or policy.keep_reviews:
        return None
    return Review.objects.filter(incident__in=expired(policy, at).values("pk"))


def apply(
    policy: RetentionPolicy | None = None, at: datetime | None = None, *, batch: int = BATCH, trigger: str = ""
) -> dict[str, int]:
    """Remove what `preview` lists, in batches; returns the counts per kind (KINDS).

    The run is a RetentionRun row (audit-logged when it starts and when it ends)."""
    policy = policy or RetentionPolicy.current()
    at = at or now()
    run = RetentionRun.objects.create(trigger=trigger[:150])
    counts: Counter[str] = Counter(dict.fromkeys(KINDS, 0))
    _in_batches(to_purge(policy, at), batch, lambda ids: _purge(ids, policy, counts))
    _in_batches(to_anonymise(policy, at), batch, lambda ids: _anonymise(ids, at, counts))
    going = reviews_to_delete(policy, at)
    if going is not None:
        _in_batches(going, batch, lambda ids: _delete_reviews(ids, counts))
    _in_batches(
        delivery_ledger(policy, at), batch, lambda ids: counts.update(delivery_ledger=_delete(Notification, ids))
    )
    _in_batches(
        silenced_alerts(policy, at), batch, lambda ids: counts.update(silenced_alerts=_delete(SilencedAlert, ids))
    )
    _in_batches(task_rows(policy, at), batch, lambda ids: counts.update(task_rows=_delete(DBTaskResult, ids)))
    run.finished_at = now()
    run.counts = dict(counts)
    run.save()
    return dict(counts)


def _in_batches(queryset: QuerySet, batch: int, work) -> None:
    """Take up to `batch` rows at a time, locked (rows others hold are left for the next run), and
    hand their ids to `work` in one transaction. Stops when nothing is left or a batch repeats
    (work that did not remove its rows must not loop for ever)."""
    done: set = set()
    while True:
        with transaction.atomic():
            ids = list(
                queryset.order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[:batch]
            )
            if not ids or done.issuperset(ids):
                return
            done.update(ids)
            work(ids)


def _delete(model, ids: list) -> int:
    deleted, _ = model.objects.filter(pk__in=ids).delete()
    return deleted


def _bump_if_public(ids: list) -> None:
    if Incident.objects.filter(pk__in=ids).public().exists():
        cache.bump()


def _purge(ids: list, policy: RetentionPolicy, counts: Counter) -> None:
    """Delete the incidents and everything that cascades with them. User reports and inbound
    mails only point at an incident (SET_NULL) and carry what people typed: they go too."""
    _bump_if_public(ids)
    UserReport.objects.filter(incident__in=ids).delete()
    InboundMail.objects.filter(incident__in=ids).delete()
    _, per_model = Incident.objects.filter(pk__in=ids).delete()
    counts.update(
        incidents_purged=per_model.get("incidents.Incident", 0),
        timeline_entries=per_model.get("incidents.TimelineEntry", 0),
        alerts=per_model.get("incidents.Alert", 0),
        incident_deliveries=per_model.get("incidents.Notification", 0),
        reviews_deleted=per_model.get("reviews.Review", 0),
    )


def _anonymise(ids: list, at: datetime, counts: Counter) -> None:
    """Remove every personal datum of the incidents, keep what reports count (see the module)."""
    _bump_if_public(ids)
    incidents = Incident.objects.filter(pk__in=ids)
    # A title unique to each incident: the same text for all would make them repeat offenders
    # of each other on /reports/ (same service and title).
    incidents.update(
        title=Concat(Value("Anonymised incident INC-"), Cast("pk", CharField())),
        description="",
        impact="",
        logs="",
        resolution_summary="",
        custom_fields={},
        reporter=None,
        lead=None,
        resolution_confirmed_by=None,
        anonymised_at=at,
        updated_at=at,  # update() leaves auto_now alone; a later edit is then seen (to_anonymise)
        version=F("version") + 1,
    )
    Incident.participants.through.objects.filter(incident_id__in=ids).delete()
    counts.update(incidents_anonymised=len(ids))

    entries = TimelineEntry.objects.filter(incident__in=ids)
    counts.update(timeline_entries=entries.count())
    changes = [TimelineEntry.Kind.STATUS_CHANGE, TimelineEntry.Kind.SEVERITY_CHANGE]
    moved = list(entries.filter(kind__in=changes).only("pk", "data"))
    for entry in moved:
        entry.data = {key: value for key, value in (entry.data or {}).items() if key in KEPT_CHANGE_DATA}
    TimelineEntry.objects.bulk_update(moved, ["data"], batch_size=500)
    entries.exclude(kind__in=changes).update(data={})
    entries.update(text="", html="", author=None)

    StatusUpdate.objects.filter(incident__in=ids).update(message="", author=None)
    Task.objects.filter(incident__in=ids).update(title="Task", assignee=None, done_by=None, created_by=None)
    RoleAssignment.objects.filter(incident__in=ids).delete()
    IncidentLink.objects.filter(Q(from_incident__in=ids) | Q(to_incident__in=ids)).update(created_by=None)
    # Who followed it, who pressed an email's button, where messages went: nothing of it without a person.
    Subscription.objects.filter(incident__in=ids).delete()
    EmailActionUse.objects.filter(incident__in=ids).delete()
    deliveries, _ = Notification.objects.filter(incident__in=ids).delete()
    counts.update(incident_deliveries=deliveries)
    # The Slack channel's name was made from the title.
    SlackChannel.objects.filter(incident__in=ids).update(name=Concat(Value("inc-"), Cast("incident_id", CharField())))
    UserReport.objects.filter(incident__in=ids).update(what="", since="", email="", handled_by=None)
    InboundMail.objects.filter(incident__in=ids).update(sender="", subject="", reason="", message_id="")

    # Alerts keep their alert name only (reports: top alerts, repeat offenders); any other label
    # or annotation may name a person, a host or an account.
    groups = AlertGroup.objects.filter(incident__in=ids)
    groups.filter(group_labels__has_key="alertname").update(
        group_labels=JSONObject(alertname=KT("group_labels__alertname"))
    )
    groups.exclude(group_labels__has_key="alertname").update(group_labels={})
    # The group key spells the group's labels; a closed incident's group takes no new alert (the
    # intake retires it and opens a new incident), so it is retired here with a key that says nothing.
    groups.update(
        last_payload={},
        external_url="",
        is_current=False,
        group_key=Concat(Value("anonymised:"), Cast("pk", CharField())),
    )
    alerts = Alert.objects.filter(group__incident__in=ids)
    counts.update(alerts=alerts.count())
    alerts.filter(labels__has_key="alertname").update(labels=JSONObject(alertname=KT("labels__alertname")))
    alerts.exclude(labels__has_key="alertname").update(labels={})
    alerts.update(annotations={}, generator_url="")


def _delete_reviews(ids: list, counts: Counter) -> None:
    Review = _review_model()
    deleted, per_model = Review.objects.filter(pk__in=ids).delete()
    counts.update(reviews_deleted=per_model.get("reviews.Review", 0))
