"""On call: rotations and overrides as shift arithmetic (schedule.py, no database), who is on
call and what happens when nobody answers (paging.py: auto-assignment, escalation, handoff),
the calendar and rotation pages (views.py, forms.py, urls.py), the iCalendar feed (ical.py),
the on-call load report (load.py; its API operation in api.py) and the admin (admin.py).

Imports the core and notifications (a page goes through the outbox).
"""


def ready() -> None:
    """Called by IncidentsConfig.ready(), first: a new incident must have its lead before the
    outbox decides who hears about it."""
    from django.contrib.auth import get_user_model

    from incidents import choices, panels, workflow
    from incidents.models import EscalationPolicy, EscalationStep, Override, Rotation, RotationMember, Service
    from incidents.oncall import api, paging, policies

    workflow.on_entry(paging.assign_on_call)
    workflow.on_entry(paging.escalate_on_raised_severity)
    # A reassignment starts the new lead's escalation (the policy's ladder from step 1).
    workflow.on_entry(paging.restart_on_reassign)
    # Who was paged, on which channel, and who is next (incidents/oncall/policies.py).
    panels.register("oncall/_escalation_panel.html", policies.escalation_panel_context, where="aside", order=30)
    # Who is on call, for the API (incidents/panels.py).
    panels.register_on_call_board(paging.board)
    # The load report's API operation, which the API area may not import (incidents/panels.py).
    panels.register_api_routes(api.build)
    # The incident page reads policies from the cache (paging.policy_summary), the dashboard the
    # on-call board (paging.service_board): any change to what they hold drops them.
    choices.keep_fresh(paging.POLICIES_CACHE, EscalationPolicy, EscalationStep)
    choices.keep_fresh(
        paging.BOARD_CACHE,
        Rotation,
        RotationMember,
        Override,
        Service,
        get_user_model(),
        through=[Rotation.services.through],
    )
