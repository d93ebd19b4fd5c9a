"""The public status page: what the public may know (projection.py, the only reader of
incidents here), its pages and Atom feed (views.py, urls.py).

Imports the core only. A postmortem summary reaches it through incidents/panels.py's
public summary providers (reviews registers one), never by importing reviews.
"""


def ready() -> None:
    """Called by IncidentsConfig.ready(), last: keep the cached public pages in step with every
    change they show (incidents/statuspage/cache.py). Last, so the generation row is locked for
    the shortest time in each transaction."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from incidents import workflow
    from incidents.models import Incident, MaintenanceWindow, Service, StatusUpdate
    from incidents.statuspage import cache

    workflow.on_entry(cache.entry_changed)
    for signal in (post_save, post_delete):
        signal.connect(cache.service_changed, sender=Service, dispatch_uid=f"statuspage.service.{signal}")
        signal.connect(cache.update_changed, sender=StatusUpdate, dispatch_uid=f"statuspage.update.{signal}")
    post_save.connect(cache.incident_saved, sender=Incident, dispatch_uid="statuspage.incident")
    # Maintenance windows: made, cancelled, their services chosen (incidents/maintenance/rules.py, the admin).
    for signal in (post_save, post_delete):
        signal.connect(cache.maintenance_changed, sender=MaintenanceWindow, dispatch_uid=f"statuspage.window.{signal}")
    m2m_changed.connect(
        cache.maintenance_changed, sender=MaintenanceWindow.services.through, dispatch_uid="statuspage.window.services"
    )
