"""Old task path: `incidents.heartbeat.check_heartbeat`, for task rows queued before the area
layout. Goes in the release after next (README, "Upgrade notes"); new code imports
incidents/alerts/heartbeat.py.
"""

from incidents.alerts.heartbeat import check_heartbeat

__all__ = ["check_heartbeat"]
