"""Maintenance windows and silences (docs/maintenance.md): Beacon's pages for them, their API,
the stakeholders' emails, and the check that keeps a page from going out during a window.

Imports the core and `notifications` (the stakeholders' emails are outbox rows). `oncall` imports
`rules.suppress_page` (one check at the top of `paging.page`); the alert intake matches
silences and windows from the core's models (incidents/alerts/silences.py), so it needs nothing
from here. The API mounts this area's router through `panels.register_api_routes`.
"""


def ready() -> None:
    """Called by IncidentsConfig.ready(): this area's operations of /api/."""
    from incidents import choices, panels
    from incidents.maintenance import api, views
    from incidents.models import MaintenanceWindow, Silence

    panels.register_api_routes(api.build)
    # The dashboard's card reads windows and silences from the cache (views.dashboard_context).
    choices.keep_fresh(views.CACHE_NAME, MaintenanceWindow, Silence, through=[MaintenanceWindow.services.through])
