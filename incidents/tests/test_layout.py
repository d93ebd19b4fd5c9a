"""The floor plan holds: the dependency rule between areas (docs/architecture.md), no import
cycles, registrations made in one place and in a stated order, permission names spelled once.

The imports are read with `ast` from the source, function-level imports included, so an
import hidden inside a function to dodge a cycle counts like any other.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("incidents", "reviews", "incidentsite")

# The core: imports no area. Everything else in incidents/ is an area or the composing top.
CORE = {
    "incidents.models",
    "incidents.migrations",
    "incidents.workflow",
    "incidents.access",
    "incidents.roles",
    "incidents.people",
    "incidents.choices",
    "incidents.reference",
    "incidents.panels",
    "incidents.signals",
    "incidents.inbound",
    "incidents.forms",
    "incidents.formrender",
    "incidents.typefields",
    "incidents.filters",
    "incidents.pagination",
    "incidents.markup",
    "incidents.middleware",
    "incidents.security",
    "incidents.checks",
    "incidents.outage",
    "incidents.idempotency",
    "incidents.housekeeping",
    "incidents.advisory",
    "incidents.rqworker",
    "incidents.audit",
    "incidents.budget",
    "incidents.update_templates",
    "incidents.links",
    "incidents.textmatch",
    "incidents.teams",
    "incidents.user_reports",
    "incidents.templatetags",
    "incidents.tasking",
}
AREAS = {"notifications", "oncall", "alerts", "statuspage", "api", "slack", "reports", "mailin", "maintenance"}
# May import any area: the pages that compose areas, the wiring, the entry points, and the old
# task paths kept for one release (incidents/tasks.py, paging.py, heartbeat.py).
TOP = {
    "incidents.views",
    "incidents.response_views",
    "incidents.user_report_views",
    "incidents.user_report_urls",
    "incidents.team_views",
    "incidents.team_urls",
    # Data retention bumps the status page's cache when public incidents go (statuspage is an area).
    "incidents.retention",
    "incidents.retention_views",
    "incidents.accounts",
    # Single sign-on: the sign-in views and backend, over the teams and roles of the core.
    "incidents.sso",
    "incidents.urls",
    "incidents.admin",
    "incidents.apps",
    "incidents.management",
    "incidents.tasks",
    "incidents.paging",
    "incidents.heartbeat",
    "incidentsite",
}
# Which layers each layer may import (besides itself).
ALLOWED = {
    "core": {"core"},
    "notifications": {"core"},
    # Paging asks maintenance whether a page is suppressed (incidents/maintenance/rules.py).
    "oncall": {"core", "notifications", "maintenance"},
    # Maintenance windows email the services' stakeholders through the outbox.
    "maintenance": {"core", "notifications"},
    # Slack's intake acts through the workflow and replies through the outbox.
    "slack": {"core", "notifications"},
    # Email in acts through the workflow and answers refusals through the outbox.
    "mailin": {"core", "notifications"},
    "alerts": {"core"},
    "statuspage": {"core"},
    "api": {"core"},
    # Reports read the core; reviews add their section through panels.register_report_section.
    "reports": {"core"},
    "reviews": {"core", "notifications"},
    "top": {"core", "top", "reviews", *AREAS},
}


def layer(module: str) -> str:
    """The layer of a dotted module name; raises for a module nobody has placed yet."""
    parts = module.split(".")
    if parts[0] == "reviews":
        return "reviews"
    if parts[0] == "incidents" and len(parts) > 1 and parts[1] in AREAS:
        return parts[1]
    for prefix in CORE:
        if module == prefix or module.startswith(prefix + "."):
            return "core"
    for prefix in TOP:
        if module == prefix or module.startswith(prefix + "."):
            return "top"
    if module == "incidents":
        return "core"
    raise LookupError(f"{module} belongs to no layer: add it to CORE, TOP or an area in {__file__}")


def product_modules() -> dict[str, Path]:
    """Every product module (tests and migrations left out), by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if "tests" in rel.parts or "migrations" in rel.parts or rel.name == "conftest.py":
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """Modules of ours that `path` imports, anywhere in the file. `from pkg import name` counts
    as an import of pkg.name when that is a module, else of pkg."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in known else base)
    return {t for t in targets if t.split(".")[0] in PACKAGES and t != module}


def import_graph() -> dict[str, set[str]]:
    modules = product_modules()
    known = set(modules)
    graph = {}
    for module, path in modules.items():
        edges = set()
        for target in imports_of(path, module, known):
            # Resolve to the closest module we know (incidents.models.core, incidents.models).
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known and target != module:
                edges.add(target)
        graph[module] = edges
    return graph


def violations(graph: dict[str, set[str]]) -> list[str]:
    """The edges that break the dependency rule, as "a -> b (layer a may not import layer b)"."""
    broken = []
    for source, targets in sorted(graph.items()):
        source_layer = layer(source)
        for target in sorted(targets):
            target_layer = layer(target)
            if target_layer != source_layer and target_layer not in ALLOWED[source_layer]:
                broken.append(f"{source} -> {target} ({source_layer} may not import {target_layer})")
    return broken


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# --- the rule ----------------------------------------------------------------------------


def test_every_module_has_a_layer():
    for module in product_modules():
        layer(module)


def test_the_areas_keep_the_dependency_rule():
    assert violations(import_graph()) == []


def test_there_is_no_import_cycle():
    assert cycles(import_graph()) == []


def test_nothing_imports_reviews_but_reviews():
    graph = import_graph()
    assert [
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if target.startswith("reviews") and not source.startswith("reviews")
    ] == []


@pytest.mark.parametrize(
    "source, target, allowed",
    [
        ("incidents.alerts.views", "incidents.oncall.paging", False),  # an area importing another
        ("incidents.statuspage.projection", "incidents.notifications.outbox", False),
        ("incidents.workflow", "incidents.notifications.outbox", False),  # the core importing an area
        ("incidents.api.endpoints", "incidents.alerts.intake", False),
        ("reviews.views", "incidents.oncall.paging", False),
        ("incidents.oncall.paging", "incidents.notifications.outbox", True),  # a page goes through the outbox
        ("reviews.notify", "incidents.notifications.outbox", True),
        ("incidents.views", "incidents.oncall.paging", True),  # the composing top
        ("incidents.alerts.views", "incidents.inbound", True),
    ],
)
def test_the_checker_names_the_offending_edge(source, target, allowed):
    broken = violations({source: {target}})
    assert (broken == []) is allowed
    if not allowed:
        assert broken[0].startswith(f"{source} -> {target}")


def test_the_checker_finds_a_cycle_through_function_level_imports(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def later():\n    from incidents.notifications import delivery\n")
    edges = imports_of(module, "incidents.notifications.outbox", {"incidents.notifications.delivery"})
    assert edges == {"incidents.notifications.delivery"}
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_an_unplaced_module_is_refused():
    with pytest.raises(LookupError):
        layer("incidents.somewhere_new")


# --- registrations -----------------------------------------------------------------------


def test_listeners_panels_and_close_checks_are_registered_in_the_stated_order():
    from incidents import panels, workflow
    from incidents.alerts import panel
    from incidents.notifications import outbox, reminders, webhooks
    from incidents.notifications import views as notification_views
    from incidents.oncall import paging
    from incidents.oncall import policies as oncall_policies
    from incidents.statuspage import cache as status_cache
    from reviews import panels as review_panels
    from reviews import policy, public
    from reviews import reports as review_reports

    assert workflow._entry_listeners == [
        paging.assign_on_call,  # first: the lead is set before the outbox picks who hears
        paging.escalate_on_raised_severity,
        paging.restart_on_reassign,
        outbox.queue_for_entry,
        webhooks.queue_for_entry,
        reminders.arm_for_entry,
        status_cache.entry_changed,  # last: the status page generation row is locked the shortest time
    ]
    assert [(p.template, p.where, p.order) for p in panels._panels] == [
        ("incidents/_updates_panel.html", "main", 10),
        ("reviews/_review_panel.html", "aside", 10),
        ("incidents/_alert_panel.html", "main", 20),
        ("reviews/_runbook_panel.html", "aside", 20),
        ("oncall/_escalation_panel.html", "aside", 30),
        ("incidents/_links_panel.html", "aside", 60),
        ("reviews/_similar_panel.html", "main", 60),
        ("incidents/_ledger_panel.html", "main", 90),
    ]
    contexts = {p.template: p.context for p in panels._panels}
    assert contexts["incidents/_alert_panel.html"] is panel.alert_panel_context
    assert contexts["oncall/_escalation_panel.html"] is oncall_policies.escalation_panel_context
    assert contexts["incidents/_ledger_panel.html"] is notification_views.ledger_panel_context
    assert contexts["reviews/_similar_panel.html"] is review_panels.similar_panel
    assert workflow._close_checks == [policy.check_close]
    assert panels._public_summary_providers == [public.public_summaries]
    assert [(s.template, s.context) for s in panels._report_sections] == [
        ("reviews/_report_section.html", review_reports.learning_loop)
    ]


REGISTRARS = {"on_entry", "on_close_check", "register", "register_public_summary"}


def test_nothing_registers_itself_on_import():
    """Listener, panel and close-check registrations sit inside a `ready` function only."""
    found = []
    for module, path in product_modules().items():
        tree = ast.parse(path.read_text())
        readies = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "ready"]
        inside = {id(n) for ready in readies for n in ast.walk(ready)}
        for node in ast.walk(tree):
            decorators = node.decorator_list if isinstance(node, ast.FunctionDef | ast.ClassDef) else []
            for decorator in decorators:
                if isinstance(decorator, ast.Attribute) and decorator.attr in {"on_entry", "on_close_check"}:
                    found.append(f"{module}: @{decorator.attr} on {node.name}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in REGISTRARS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"workflow", "panels", "incident_panels"}
                and id(node) not in inside
            ):
                found.append(f"{module}: {node.func.value.id}.{node.func.attr}(...) outside ready()")
    assert found == []


# --- permission names ----------------------------------------------------------------------

PERMISSION = re.compile(
    r"^(incidents|reviews)\.(view|add|change|delete|respond|close|follow|note_own|edit_own|access|write|publish|edit)_\w+$"
)


def test_permission_names_are_spelled_only_in_roles():
    found = []
    for module, path in product_modules().items():
        if module == "incidents.roles":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and PERMISSION.match(node.value):
                found.append(f"{module}: {node.value!r}")
    assert found == []


# --- old task paths ----------------------------------------------------------------------

OLD_TASK_PATHS = [
    "incidents.tasks.deliver_email",
    "incidents.tasks.deliver_slack",
    "incidents.tasks.remind_lead",
    "incidents.paging.escalate",
    "incidents.paging.handoff",
    "incidents.heartbeat.check_heartbeat",
]


@pytest.mark.parametrize("path", OLD_TASK_PATHS)
def test_every_old_task_path_still_imports_a_task(path):
    from django.utils.module_loading import import_string
    from django_tasks.base import Task

    assert isinstance(import_string(path), Task)
