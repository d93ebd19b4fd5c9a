"""Old task paths, kept so that task rows queued before the area layout still run.

django-tasks stores a queued task by its import path; rows written by Beacon 0.1 name
`incidents.tasks.deliver_email`, `incidents.tasks.deliver_slack` and
`incidents.tasks.remind_lead`. These aliases go in the release after next (README, "Upgrade
notes"); new code imports from incidents/notifications/.
"""

from incidents.notifications.delivery import deliver_email, deliver_slack
from incidents.notifications.reminders import reminder_due as remind_lead

__all__ = ["deliver_email", "deliver_slack", "remind_lead"]
