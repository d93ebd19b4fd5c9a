"""What other parts of Beacon contribute to pages they do not own: panels on the incident
page, and one more piece of public text per incident on the status page.

The incident page knows nothing of alerts, deliveries or reviews; each of those
registers a panel here: a template and a function returning its context (or None to
hide it). Each function must run a fixed number of queries, whatever the data size.

    register("incidents/_alert_panel.html", alert_panel_context, where="main", order=20)

Registration happens in IncidentsConfig.ready() (incidents/apps.py) and ReviewsConfig.ready(),
never as a side effect of importing a module.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest

from incidents.models import Incident


@dataclass(frozen=True)
class Panel:
    template: str
    context: Callable[[HttpRequest, Incident], dict | None]
    where: str = "aside"  # "main" (under the report, above the timeline) or "aside"
    order: int = 50


_panels: list[Panel] = []


def register(template: str, context: Callable[[HttpRequest, Incident], dict | None], *, where="aside", order=50):
    panel = Panel(template, context, where, order)
    if panel not in _panels:
        _panels.append(panel)
        _panels.sort(key=lambda p: p.order)
    return panel


def render_context(request: HttpRequest, incident: Incident) -> dict[str, list[tuple[str, dict]]]:
    """{"main": [(template, context), ...], "aside": [...]}, for the panels that show."""
    shown: dict[str, list[tuple[str, dict]]] = {"main": [], "aside": []}
    for panel in _panels:
        context = panel.context(request, incident)
        if context is not None:
            shown[panel.where].append((panel.template, context))
    return shown


# --- public summaries on the status page -----------------------------------------------
# Another part may publish one more piece of public text per incident (reviews: the public
# post-mortem). A provider takes incident ids and returns {id: object with .text and
# .published_at}; it must return plain values only, in a fixed number of queries.
_public_summary_providers: list[Callable[[list[int]], dict]] = []


def register_public_summary(provider: Callable[[list[int]], dict]) -> None:
    if provider not in _public_summary_providers:
        _public_summary_providers.append(provider)


def public_summary_for(incident_id: int):
    for provider in _public_summary_providers:
        found = provider([incident_id]).get(incident_id)
        if found is not None:
            return found
    return None


# --- sections of the reports page ------------------------------------------------------
# Another part may add a section to /reports/ (reviews: the learning loop). A section is a
# template and a function (request, start, end) -> context or None (hidden), where [start, end)
# is the report's period; it must honour need-to-know and run a fixed number of queries.
@dataclass(frozen=True)
class ReportSection:
    template: str
    context: Callable[[HttpRequest, object, object], dict | None]


_report_sections: list[ReportSection] = []


def register_report_section(template: str, context: Callable[[HttpRequest, object, object], dict | None]):
    section = ReportSection(template, context)
    if section not in _report_sections:
        _report_sections.append(section)
    return section


def report_sections(request: HttpRequest, start, end) -> list[tuple[str, dict]]:
    shown = []
    for section in _report_sections:
        context = section.context(request, start, end)
        if context is not None:
            shown.append((section.template, context))
    return shown


# --- who is on call, for surfaces outside the on-call area --------------------------------
# The on-call area answers "who is on call now and next for each service" (the API's
# GET /api/oncall reads it here, as it may not import the area). A provider takes the moment and
# returns, per service by name, a dict: {"service": Service, "rotation": name or None, "now":
# shift or None, "next": shift or None}, a shift being {"user", "start", "end", "override"};
# plain values only, in a fixed number of queries.
_on_call_boards: list[Callable[[object], list[dict]]] = []


def register_on_call_board(provider: Callable[[object], list[dict]]) -> None:
    if provider not in _on_call_boards:
        _on_call_boards.append(provider)


def on_call_board(at) -> list[dict] | None:
    """Who is on call per service at `at`, or None when no on-call area is installed."""
    for provider in _on_call_boards:
        return provider(at)
    return None


# --- operations of the API from parts it may not import ----------------------------------
# reviews (which nothing imports) adds its API operations here: a function that takes the API's
# kit (incidents/api/common.py KIT: its token auth, error types and helpers) and returns a ninja
# Router. incidents/api/endpoints.py mounts every registered router when it builds the API, so
# registration must happen in an AppConfig.ready(), before the URLs are first loaded.
_api_routers: list[Callable[[object], object]] = []


def register_api_routes(build: Callable[[object], object]) -> None:
    if build not in _api_routers:
        _api_routers.append(build)


def api_routes() -> list[Callable[[object], object]]:
    return list(_api_routers)
