"""`GET /metrics`: Beacon's own health in Prometheus text format.

- `beacon_http_requests_total{method, view, status}` and
  `beacon_http_request_duration_seconds{method, view}`: counted by RequestMetricsMiddleware.
  `view` is the URL's name (a fixed set), never the raw path, so the series stay few.
- `beacon_open_incidents{severity}` and `beacon_notifications{state}` (pending, sending,
  failed: the outbox rows not delivered): read from the database at each scrape.
- `beacon_mtta_seconds{severity}` and `beacon_mttr_seconds{severity}`: mean time from report to
  acknowledgement and to resolution of the incidents reported in the last 30 days (docs/reports.md).
- `beacon_error_budget_left_ratio{service}`: the share of this calendar month's error budget left,
  per service with an availability objective (incidents/budget.py); below 0 when overspent.
- `beacon_metrics_database_up`: 0 when those reads failed (the rest is still answered).

With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR to an empty directory: the
counters are then summed over all workers (prometheus_client's multiprocess mode).
Open like /healthz unless METRICS_TOKEN is set; then it needs that bearer token.
"""

import hmac
import os
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from incidents import budget
from incidents.inbound import bearer_token
from incidents.models import Incident, Notification, Service, Severity

# Beacon's own registry: the global one would also carry whatever other libraries register.
registry = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "beacon_http_requests",
    "HTTP requests answered, by URL name and status.",
    ["method", "view", "status"],
    registry=registry,
)
LATENCY = Histogram(
    "beacon_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL name.",
    ["method", "view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=registry,
)
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestMetricsMiddleware:
    """Counts every request and times it (outermost middleware, so everything below is inside)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(method, view, str(response.status_code)).inc()
        LATENCY.labels(method, view).observe(time.perf_counter() - started)
        return response


# The window of the response-time gauges.
RESPONSE_WINDOW = timedelta(days=30)


def _took(end: str):
    return ExpressionWrapper(F(end) - F("reported_at"), output_field=DurationField())


def response_times(moment: datetime) -> dict[str, dict]:
    """{severity: {"mtta": timedelta | None, "mttr": ...}} over the unrestricted incidents reported
    in the last 30 days (restricted ones are need-to-know: /metrics is read without a user)."""
    rows = (
        Incident.objects.unrestricted()
        .filter(reported_at__gte=moment - RESPONSE_WINDOW)
        .values("severity")
        .order_by("severity")
        .annotate(
            mtta=Avg(_took("acknowledged_at"), filter=Q(acknowledged_at__isnull=False)),
            mttr=Avg(_took("resolved_at"), filter=Q(resolved_at__isnull=False)),
        )
    )
    return {row["severity"]: row for row in rows}


def budgets_left(moment: datetime) -> list[tuple[str, float]]:
    """(service slug, share of this month's budget left), this month in the site's time zone."""
    found = budget.budgets(None, budget.this_month(moment), moment)
    slugs = dict(Service.objects.filter(pk__in=list(found)).values_list("pk", "slug"))
    return sorted((slugs[pk], b.left_share) for pk, b in found.items() if pk in slugs)


class DatabaseCollector:
    """Open incidents by severity, undelivered notifications by state, response times by severity
    and error budgets by service: seven queries per scrape at most."""

    def collect(self):
        up = GaugeMetricFamily("beacon_metrics_database_up", "1 when /metrics could read the database.")
        try:
            # Restricted incidents are need-to-know: not even counted where anyone may read (incidents/access.py).
            counts = dict(
                Incident.objects.unrestricted().open().values_list("severity").annotate(n=Count("pk")).order_by()
            )
            undelivered = dict(
                Notification.objects.exclude(state=Notification.State.SENT)
                .values_list("state")
                .annotate(n=Count("pk"))
                .order_by()
            )
            moment = timezone.now()
            times = response_times(moment)
            left = budgets_left(moment)
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        family = GaugeMetricFamily(
            "beacon_open_incidents", "Incidents not yet resolved and not restricted, by severity.", labels=["severity"]
        )
        for severity in Severity:
            family.add_metric([severity.value], counts.get(severity.value, 0))
        yield family
        notifications = GaugeMetricFamily(
            "beacon_notifications", "Notifications not delivered (yet), by state.", labels=["state"]
        )
        for state in (Notification.State.PENDING, Notification.State.SENDING, Notification.State.FAILED):
            notifications.add_metric([state.value], undelivered.get(state.value, 0))
        yield notifications
        for name, key, text in (
            ("beacon_mtta_seconds", "mtta", "Mean seconds from report to acknowledgement"),
            ("beacon_mttr_seconds", "mttr", "Mean seconds from report to resolution"),
        ):
            family = GaugeMetricFamily(
                name,
                f"{text}, incidents reported in the last 30 days (not restricted), by severity.",
                labels=["severity"],
            )
            for severity in Severity:
                value = times.get(severity.value, {}).get(key)
                if value is not None:
                    family.add_metric([severity.value], value.total_seconds())
            yield family
        family = GaugeMetricFamily(
            "beacon_error_budget_left_ratio",
            "Share of this calendar month's error budget left (below 0: overspent), by service.",
            labels=["service"],
        )
        for slug, share in left:
            family.add_metric([slug], share)
        yield family


class _Scrape:
    """What one scrape shows: the request metrics (this process's, or all workers') and the database's."""

    def collect(self):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            workers = CollectorRegistry()
            MultiProcessCollector(workers)
            yield from workers.collect()
        else:
            yield from registry.collect()
        yield from DatabaseCollector().collect()


def _authorised(request: HttpRequest) -> bool:
    if not settings.METRICS_TOKEN:
        return True
    token = bearer_token(request) or ""
    return hmac.compare_digest(token.encode(), settings.METRICS_TOKEN.encode())


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """GET or HEAD (a load balancer's probe: the same status and headers, no body, no database reads)."""
    if not _authorised(request):
        response = HttpResponse("Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="beacon-metrics"'
        return response
    if request.method == "HEAD":
        return HttpResponse(content_type=CONTENT_TYPE_LATEST)
    return HttpResponse(generate_latest(_Scrape()), content_type=CONTENT_TYPE_LATEST)
