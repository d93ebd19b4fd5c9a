"""Notifications: who hears what (outbox.py), how it reaches them (delivery.py, transports.py),
outgoing webhooks (webhooks.py), the unsubscribe link (unsubscribe.py), update reminders (reminders.py), the follow and
settings pages (views.py) and the admin of deliveries and stakeholder lists (admin.py).

Imports the core only. Other areas queue messages through `outbox.queue_direct` and
`outbox.queue_page`; nothing here imports them.
"""


def ready() -> None:
    """Called by IncidentsConfig.ready(), after the on-call area's listeners (see there)."""
    from incidents import panels, workflow
    from incidents.notifications import outbox, reminders, views, webhooks

    workflow.on_entry(outbox.queue_for_entry)
    workflow.on_entry(webhooks.queue_for_entry)
    workflow.on_entry(reminders.arm_for_entry)
    panels.register("incidents/_ledger_panel.html", views.ledger_panel_context, where="main", order=90)
