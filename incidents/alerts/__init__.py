"""Alert intake: the Alertmanager webhook (views.py), the mapping of its payload onto incidents
(intake.py: grouping, idempotency, resolved means mitigated), the dead man's switch
(heartbeat.py) and the alert group panel on the incident page (panel.py).

Imports the core only.
"""


def ready() -> None:
    """Called by IncidentsConfig.ready()."""
    from incidents import panels
    from incidents.alerts import panel

    panels.register("incidents/_alert_panel.html", panel.alert_panel_context, where="main", order=20)
