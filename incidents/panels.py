"""Panels on the incident page contributed by other parts of Beacon.

The incident page knows nothing of alerts, deliveries or reviews; each of those
registers a panel here: a template and a function returning its context (or None to
hide it). Each function must run a fixed number of queries, whatever the data size.

    register("incidents/_alert_panel.html", alert_panel_context, where="main", order=20)
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
