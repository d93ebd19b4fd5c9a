"""On call: rotations and overrides as shift arithmetic (schedule.py, no database), who is on
call and what happens when nobody answers (paging.py: auto-assignment, escalation, handoff),
the calendar and rotation pages (views.py, forms.py, urls.py), the iCalendar feed (ical.py),
the on-call load report (load.py; its API operation in api.py) and the admin (admin.py).

Imports the core and notifications (a page goes through the outbox).
"""


def ready() -> None:
    """Called by IncidentsConfig.ready(), first: a new incident must have its lead before the
    outbox decides who hears about it."""
    from incidents import panels, workflow
    from incidents.oncall import api, paging

    workflow.on_entry(paging.assign_on_call)
    workflow.on_entry(paging.escalate_on_raised_severity)
    # Who is on call, for the API (incidents/panels.py).
    panels.register_on_call_board(paging.board)
    # The load report's API operation, which the API area may not import (incidents/panels.py).
    panels.register_api_routes(api.build)
