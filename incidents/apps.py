from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IncidentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "incidents"

    def ready(self) -> None:
        """The one place that wires the areas into the core, in this order (pinned by
        incidents/tests/test_layout.py):

        1. on call: assign the on-call engineer to a new incident, escalate a raised one.
           First, so that the lead is set before the outbox decides who hears of the report.
        2. notifications: write the outbox rows of every entry, then those of the outgoing
           webhooks that picked its event, then arm the update reminder; the delivery ledger panel.
        3. alerts: the alert group panel; maintenance: its operations of /api/.
        4. the core's own panel: status updates (incidents/views.py).
        5. status page: bump the cached public pages' generation on every change they show
           (last: the generation row stays locked for the shortest time).

        ReviewsConfig.ready() runs after this one (INSTALLED_APPS order) and adds the review
        close check, its panels and the status page's public summary.
        """
        from django.contrib.auth.signals import user_logged_in
        from django.core import checks as django_checks

        from incidents import (
            alerts,
            audit,
            checks,
            choices,
            maintenance,
            notifications,
            oncall,
            panels,
            reference,
            statuspage,
            views,
        )
        from incidents.middleware import stamp_sign_in
        from incidents.models import (
            ensure_default_policy,
            ensure_shipped_response,
            ensure_shipped_types,
            ensure_shipped_update_templates,
        )
        from incidents.roles import sync_roles_after_migrate

        user_logged_in.connect(stamp_sign_in, dispatch_uid="incidents.session_lifetime")
        choices.connect_signals()
        # Each process's copies of the reference data the intake reads (incidents/reference.py).
        reference.connect_signals()
        # Configuration changes go to the audit log (django-auditlog).
        audit.register()
        # With DEBUG off, refuse an unsafe configuration (incidents/checks.py).
        django_checks.register(checks.production_safety, "beacon")

        # Runs after auth has created the permissions of every migrated model.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="incidents.sync_roles")
        post_migrate.connect(ensure_shipped_types, sender=self, dispatch_uid="incidents.ensure_shipped_types")
        # After the types: their checklists, and the response roles (incidents/models/response.py).
        post_migrate.connect(ensure_shipped_response, sender=self, dispatch_uid="incidents.ensure_shipped_response")
        post_migrate.connect(
            ensure_shipped_update_templates, sender=self, dispatch_uid="incidents.ensure_shipped_update_templates"
        )

        # The default escalation policy, made from the escalation settings (incidents/models/escalation.py).
        post_migrate.connect(ensure_default_policy, sender=self, dispatch_uid="incidents.ensure_default_policy")

        oncall.ready()
        notifications.ready()
        alerts.ready()
        maintenance.ready()
        panels.register("incidents/_updates_panel.html", views.updates_panel_context, where="main", order=10)
        panels.register("incidents/_links_panel.html", views.links_panel_context, where="aside", order=60)
        statuspage.ready()
