from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IncidentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "incidents"

    def ready(self) -> None:
        import incidents.paging  # noqa: F401 - registers on-call assignment and escalation (workflow.on_entry)
        from incidents import alert_panel  # noqa: F401 - registers the alert group panel
        from incidents.roles import sync_roles_after_migrate

        # Runs after auth has created the permissions of every migrated model.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="incidents.sync_roles")
        # Registers the outbox listener with workflow.on_entry and the incident-page panels.
        import incidents.comms_views  # noqa: F401
        import incidents.notifications  # noqa: F401
