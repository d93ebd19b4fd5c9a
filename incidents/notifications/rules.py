"""How a page reaches one person: which channels, in which order, after which delay.

`page_plan` is the one answer, used both to deliver a page (`outbox.queue_page`) and to
preview it (escalation policies: "at 03:05 Alice is paged by push and email"), so the preview
can never promise what delivery does not do.

Until people set their own rules (issue: per-user notification rules), every page goes by
email at once, and to Slack at once when the person has set a Slack member ID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from incidents.models import Profile


@dataclass(frozen=True)
class PlannedPage:
    """One channel a page goes out on, `after` the page itself (zero: at once)."""

    channel: str  # a Notification.Channel value ("email", "slack", …)
    label: str  # what people read in a preview: "email", "Slack", "ntfy on Alice's phone"
    after: dt.timedelta = dt.timedelta(0)


def page_plan(user, *, severity: str, at: dt.datetime | None = None) -> list[PlannedPage]:
    """The channels a page about an incident of `severity` at `at` reaches `user` on, in order.

    Empty when nothing can reach them (a deactivated user, no address): callers say so
    ("Bob has no channel that works") rather than pretend he was told.
    """
    if not user.is_active:
        return []
    plan = []
    if user.email:
        plan.append(PlannedPage("email", "email"))
    try:
        member_id = user.profile.slack_member_id
    except Profile.DoesNotExist:
        member_id = ""
    if member_id:
        plan.append(PlannedPage("slack", "Slack"))
    return plan
