"""/reports/ and its CSV export.

Managers and responders (respond_incident) see everything; reporters and viewers, who follow
incidents without working them, see the service-level part only (incidents, user impact per
service). Figures count only the incidents the user may see (need-to-know) and say when some
are left out.
"""

import csv
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from incidents import panels, roles, teams
from incidents.access import role_required
from incidents.models import Incident
from incidents.reports import exports, queries
from incidents.reports.forms import ReportFilterForm
from incidents.reports.svg import Bar, bar_chart

TABLES = ("services", "months", "weeks")


def may_see_everything(user) -> bool:
    return user.has_perm(roles.RESPOND_INCIDENT)


def minutes(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 1)


def human(value: timedelta | None) -> str:
    """A duration as a person reads it: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if value is None:
        return "–"
    seconds = round(value.total_seconds())
    sign = "−" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    if seconds < 3600:
        return f"{sign}{seconds // 60} min"
    if seconds < 86400:
        return f"{sign}{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{sign}{seconds // 86400} d {seconds % 86400 // 3600} h"


def list_url(filters: queries.Filters, period: queries.Period | None = None, **extra) -> str:
    """The incident list showing exactly the incidents behind a figure."""
    query = {**filters.query(), **extra}
    if period is not None:
        query["reported_after"] = period.key.isoformat()
        query["reported_before"] = period.last_day.isoformat()
    return reverse("incidents:list") + ("?" + urlencode(query) if query else "")


def _filters(form: ReportFilterForm, scope: teams.Scope) -> queries.Filters:
    data = form.cleaned_data
    return queries.Filters(data["service"], data["type"], data["severity"], data["source"], scope)


def _trend_context(rows: list[queries.Row], filters: queries.Filters) -> dict:
    shown = []
    for row in rows:
        share = row.in_target_share
        shown.append(
            {
                "row": row,
                "label": row.period.label,
                "href": list_url(filters, row.period),
                "durations": [
                    (human(row.means.get(key)), human(row.medians.get(key))) for key, *_ in queries.DURATIONS
                ],
                "in_target": "–" if share is None else f"{share:.0%}",
            }
        )
    count_bars = [Bar(r["label"], r["row"].count, str(r["row"].count), r["href"]) for r in shown]
    resolve_bars = [
        Bar(r["label"], minutes(r["row"].medians.get("resolve_reported")), r["durations"][4][1], r["href"])
        for r in shown
    ]
    return {
        "rows": shown,
        "count_chart": bar_chart(count_bars, css_class="chart-count"),
        "resolve_chart": bar_chart(resolve_bars, css_class="chart-resolve"),
    }


def report_context(request: HttpRequest, filters: queries.Filters) -> dict:
    tz = timezone.get_current_timezone()
    moment = timezone.now()
    today = timezone.localdate(moment)
    month_periods = queries.months(today, tz)
    week_periods = queries.weeks(today, tz)
    start, end = month_periods[0].start, month_periods[-1].end
    full = may_see_everything(request.user)
    services = queries.per_service(request.user, filters, start, end, moment)
    # Every month's budget, this month's last: the table's "budget left" and the burn per month.
    burn = queries.burn_by_month(request.user, month_periods, moment, filters.service)
    for row in services:
        row.burn = burn.get(row.service.pk)
        row.budget = row.burn[-1] if row.burn else None
        row.href = list_url(
            queries.Filters(row.service, filters.type, filters.severity, filters.source, filters.scope),
            reported_after=start.date().isoformat(),
        )
    context = {
        "full": full,
        "filters": filters,
        "start": start,
        "end": end,
        "services": services,
        "impact_chart": bar_chart(
            [Bar(r.service.name, r.impact_minutes, f"{r.impact_minutes} min", r.href) for r in services if r.count],
            css_class="chart-impact",
        ),
        "hidden": queries.some_hidden(request.user, filters, start, end),
        "this_month": month_periods[-1],
        "month_periods": month_periods,
        "burning": [row for row in services if row.burn],
        "durations": [label for _, label, *_ in queries.DURATIONS],
        "targets": _targets(),
        "factors": ", ".join(f"{s.title()} {f:g}" for s, f in settings.ERROR_BUDGET_FACTORS.items()),
    }
    if full:
        visible = filters.apply(Incident.objects.visible_to(request.user))
        context["months"] = _trend_context(queries.trend(visible, month_periods, "month", tz), filters)
        context["weeks"] = _trend_context(queries.trend(visible, week_periods, "week", tz), filters)
        context["sections"] = panels.report_sections(request, start, end)
    return context


def _targets() -> str:
    return ", ".join(f"{severity.title()} {m} min" for severity, m in settings.REPORT_ACK_TARGET_MINUTES.items())


@role_required(roles.VIEW_INCIDENT)
@require_safe
def reports(request: HttpRequest) -> HttpResponse:
    # "My teams" first, everything one click away (incidents/teams.py); not a field of the form.
    scope = teams.scope(request)
    params = request.GET.copy()
    params.pop("teams", None)
    form = ReportFilterForm(params or None)
    if params and not form.is_valid():
        return render(request, "reports/reports.html", {"form": form, "invalid": True}, status=400)
    filters = _filters(form, scope) if form.is_bound else queries.Filters(scope=scope)
    context = {
        "form": form,
        "query": urlencode(filters.query()),
        **report_context(request, filters),
        **teams.scope_context(request, scope),
    }
    return render(request, "reports/reports.html", context)


def _budget_cells(budget: queries.Budget | None) -> list:
    if budget is None:
        return ["", "", ""]
    return [budget.objective, round(budget.left_share, 4), round(budget.availability, 3)]


@role_required(roles.VIEW_INCIDENT)
@require_safe
def export_csv(request: HttpRequest) -> HttpResponse:
    """The report's tables as CSV: `table=services` (default), `months` or `weeks` (the last two
    for managers and responders); the same filters as the page."""
    params = request.GET.copy()
    table = params.pop("table", ["services"])[-1]
    scope = teams.scope(request)
    params.pop("teams", None)
    if table not in TABLES:
        return HttpResponse(
            f"Unknown table {table!r}: choose services, months or weeks.\n", status=400, content_type="text/plain"
        )
    form = ReportFilterForm(params)
    if not form.is_valid():
        return exports.refusal(form)
    if table != "services" and not may_see_everything(request.user):
        return HttpResponseForbidden("Response times are for managers and responders.\n", content_type="text/plain")
    filters = _filters(form, scope)
    tz = timezone.get_current_timezone()
    moment = timezone.now()
    today = timezone.localdate(moment)
    writer = csv.writer(exports.Echo())
    if table == "services":
        periods = queries.months(today, tz)
        start, end = periods[0].start, periods[-1].end
        header = [
            "service",
            "incidents",
            "impact_minutes",
            "top_alerts",
            "repeats",
            "objective_percent",
            "budget_left_share_this_month",
            "availability_percent_this_month",
            "repeat_alerts",
        ]
        budgets = queries.budgets(request.user, periods[-1], moment, filters.service)
        body = [
            [
                r.service.slug,
                r.count,
                r.impact_minutes,
                " ".join(f"{name}={n}" for name, n in r.top_alerts),
                " ".join(f"{title}={n}" for title, n in r.repeats),
                *_budget_cells(budgets.get(r.service.pk)),
                " ".join(f"{name}={n}" for name, n in r.repeat_alerts),
            ]
            for r in queries.per_service(request.user, filters, start, end, moment)
        ]
    else:
        periods = queries.months(today, tz) if table == "months" else queries.weeks(today, tz)
        visible = filters.apply(Incident.objects.visible_to(request.user))
        header = ["period", "start", "incidents"]
        for key, *_ in queries.DURATIONS:
            header += [f"mean_{key}_minutes", f"median_{key}_minutes"]
        header.append("acknowledged_in_target_share")
        body = []
        for row in queries.trend(visible, periods, table.rstrip("s"), tz):
            line = [row.period.label, row.period.key.isoformat(), row.count]
            for key, *_ in queries.DURATIONS:
                line += [minutes(row.means.get(key)), minutes(row.medians.get(key))]
            share = row.in_target_share
            line.append("" if share is None else round(share, 4))
            body.append(line)
    response = StreamingHttpResponse(
        (writer.writerow(line) for line in [header, *body]), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="beacon-report-{table}.csv"'
    return response
