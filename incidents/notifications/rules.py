"""How a page reaches one person: which channels, in which order, after which delay.

`page_plan` is the one answer, used both to deliver a page (`outbox.queue_page` writes one outbox
row per planned page, a delayed one due `after` the page) and to preview it (escalation policies:
"at 03:05 Alice is paged by push and email"), so the preview can never promise what delivery does
not do.

A person's rules (NotificationRule, edited on their profile) are the plan: each rule whose
severities include the incident's, in order, a channel once (the first rule for it wins). A rule
whose channel cannot work is left out (email turned off or no address, Slack without a member ID).
Without rules, every way the person can be reached, at once: email, Slack when they set a member
ID, each of their paging channels. Quiet hours (QuietHours, in the person's time zone) push every
page about a Low or Medium incident to the end of the quiet hours.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.utils import timezone

from incidents.models import NotificationRule, PagingChannel, Profile, QuietHours
from incidents.models.channels import QUIET_SEVERITIES


@dataclass(frozen=True)
class PlannedPage:
    """One channel a page goes out on, `after` the page itself (zero: at once)."""

    channel: str  # a Notification.Channel value ("email", "slack", "apprise", …)
    label: str  # what people read in a preview: "email", "Slack", "ntfy on Alice's phone"
    after: dt.timedelta = dt.timedelta(0)
    # The outbox row's recipient where the channel needs one of the person's own: "apprise:<pk>".
    recipient: str = ""
    # Why it waits longer than its rule says: "quiet hours until 07:00".
    held: str = ""


@dataclass(frozen=True)
class _Settings:
    rules: list
    channels: list
    quiet: QuietHours | None


def prefetch_plans(users) -> None:
    """Load the paging settings of many people at once (three queries), so that `page_plan` on any
    of these user objects asks nothing more: for pages that plan for many people (the escalation
    policy preview, the incident's escalation panel)."""
    users = [u for u in users if u is not None]
    ids = {u.pk for u in users}
    if not ids:
        return
    rules: dict[int, list] = {pk: [] for pk in ids}
    channels: dict[int, list] = {pk: [] for pk in ids}
    for rule in NotificationRule.objects.filter(user_id__in=ids).select_related("channel"):
        rules[rule.user_id].append(rule)
    for channel in PagingChannel.objects.filter(user_id__in=ids):
        channels[channel.user_id].append(channel)
    quiet = {q.user_id: q for q in QuietHours.objects.filter(user_id__in=ids)}
    for user in users:
        user._paging_settings = _Settings(rules[user.pk], channels[user.pk], quiet.get(user.pk))


def page_plan(user, *, severity: str, at: dt.datetime | None = None) -> list[PlannedPage]:
    """The channels a page about an incident of `severity` at `at` reaches `user` on, in order.

    Empty when nothing can reach them (a deactivated user, no address): callers say so
    ("Bob has no channel that works") rather than pretend he was told. Three queries at most,
    none after `prefetch_plans`.
    """
    if not user.is_active:
        return []
    at = at or timezone.now()
    try:
        profile = user.profile
    except Profile.DoesNotExist:
        profile = None
    email = bool(user.email) and (profile is None or profile.email_notifications)
    member_id = profile.slack_member_id if profile is not None else ""
    prefetched: _Settings | None = getattr(user, "_paging_settings", None)
    if prefetched is not None:
        rules = prefetched.rules
    else:
        rules = list(NotificationRule.objects.filter(user=user).select_related("channel"))
    plan: list[PlannedPage] = []
    if rules:
        seen = set()
        for rule in rules:
            if severity not in rule.severities:
                continue
            page = _planned(rule.target, rule.channel, email=email, member_id=member_id)
            key = (page.channel, page.recipient) if page else None
            if page is None or key in seen:
                continue
            seen.add(key)
            plan.append(PlannedPage(page.channel, page.label, dt.timedelta(minutes=rule.delay_minutes), page.recipient))
    else:
        for target in ("email", "slack"):
            page = _planned(target, None, email=email, member_id=member_id)
            if page is not None:
                plan.append(page)
        own = prefetched.channels if prefetched is not None else PagingChannel.objects.filter(user=user)
        for channel in own:
            plan.append(PlannedPage("apprise", channel.label, recipient=channel.recipient))
    return _quiet(user, profile, plan, severity=severity, at=at, prefetched=prefetched)


def _planned(target: str, channel: PagingChannel | None, *, email: bool, member_id: str) -> PlannedPage | None:
    if target == NotificationRule.Target.EMAIL:
        return PlannedPage("email", "email") if email else None
    if target == NotificationRule.Target.SLACK:
        return PlannedPage("slack", "Slack") if member_id else None
    if channel is None:
        return None
    return PlannedPage("apprise", channel.label, recipient=channel.recipient)


def _quiet(
    user, profile, plan: list[PlannedPage], *, severity: str, at: dt.datetime, prefetched: _Settings | None
) -> list[PlannedPage]:
    """Every planned page of a Low or Medium incident, moved to the end of the quiet hours when
    `at` falls in them (its delay counted from there: "email after 2 min" is 07:02)."""
    if not plan or severity not in QUIET_SEVERITIES:
        return plan
    quiet = prefetched.quiet if prefetched is not None else QuietHours.objects.filter(user=user).first()
    if quiet is None:
        return plan
    site = zoneinfo.ZoneInfo(timezone.get_default_timezone_name())
    zone = (profile.zoneinfo if profile is not None else None) or site
    local = at.astimezone(zone)
    ends = quiet.ends_after(local)
    if ends is None:
        return plan
    # In UTC: two times of one zone subtract as wall clocks, wrong across a DST change.
    wait = ends.astimezone(dt.UTC) - at.astimezone(dt.UTC)
    held = f"quiet hours until {quiet.end:%H:%M}"
    return [PlannedPage(p.channel, p.label, p.after + wait, p.recipient, held) for p in plan]
