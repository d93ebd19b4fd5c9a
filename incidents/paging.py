"""Old task paths: `incidents.paging.escalate` and `incidents.paging.handoff`, for task rows
queued before the area layout. Goes in the release after next (README, "Upgrade notes");
new code imports incidents/oncall/paging.py.
"""

from incidents.oncall.paging import escalate, handoff

__all__ = ["escalate", "handoff"]
