"""How a page reaches one person: their own paging channels (Apprise URLs) and their rules.

A `PagingChannel` is an Apprise URL (ntfy, Pushover, Telegram, Matrix, an SMS gateway…) the user
added on their profile. The URL carries the secret that lets anyone post to their phone (an ntfy
topic, a bot token), so it is kept in one place, here: never shown back in full (`masked`), never
copied into an outbox row (those name the channel, "apprise:<pk>"), never logged, not in the API.

A `NotificationRule` says "this channel, this long after the page, for these severities"; the
rules of a person, in order, are their page plan (incidents/notifications/rules.py). `QuietHours`
hold back pages about Low and Medium incidents until the morning, in the person's time zone.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

import apprise
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from incidents.models.core import Severity
from incidents.models.webhooks import address_refusal


def apprise_instance() -> apprise.Apprise:
    """An Apprise that knows only what Beacon gives it: no configuration files, no plugin
    directories, nothing persisted on disk (a user's ~/.apprise must never add destinations)."""
    return apprise.Apprise(asset=apprise.AppriseAsset(plugin_paths=[], storage_mode="memory"))


def apprise_refusal(url: str) -> str | None:
    """Why Apprise cannot use `url`, or None. Apprise itself parses it: what it accepts is what
    delivery will send to, and a typing mistake is caught when the channel is added."""
    url = url.strip()
    if "://" not in url:
        return "This is not an Apprise URL: it starts with the service, like ntfys://ntfy.sh/your-topic."
    plugin = apprise_instance().instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0]
        return (
            f"Apprise cannot use this {scheme}:// URL: check the service's page in the Apprise wiki "
            "(github.com/caronc/apprise/wiki) for its form."
        )
    return host_refusal(plugin)


def host_refusal(plugin) -> str | None:
    """Any signed-in person adds channels: one naming a private, loopback or link-local address
    (json://169.254.169.254/, ntfy://10.0.0.5/) would let them probe Beacon's own network, so it
    is refused unless WEBHOOKS_ALLOW_PRIVATE says such addresses are fine. Only an address written
    as one is checked: a host name is not resolved, since for many services Apprise's "host" is
    the secret itself (a bot token), which a DNS query would hand to the resolver."""
    host = str(getattr(plugin, "host", "") or "").strip("[]")
    if host.lower() == "localhost":
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    refusal = address_refusal(host)
    return f"This channel names {refusal}" if refusal else None


class PagingChannel(models.Model):
    """One of a user's own ways to be paged, through Apprise."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="paging_channels")
    label = models.CharField(max_length=60, help_text="What you call it: “ntfy on my phone”.")
    # The secret: see the module docstring.
    url = models.TextField("Apprise URL")
    # When a message (the test message or a page) last reached it: shown on the profile, so a
    # channel nobody has seen work stands out.
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["label", "pk"]
        constraints = [models.UniqueConstraint(fields=["user", "label"], name="pagingchannel_label_per_user")]

    def __str__(self) -> str:
        return f"{self.label} ({self.masked})"

    def clean(self) -> None:
        refusal = apprise_refusal(self.url)
        if refusal:
            raise ValidationError({"url": refusal})

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower() if "://" in self.url else ""

    @property
    def masked(self) -> str:
        """All of the URL anyone sees again: the service, never the host, topic or token."""
        return f"{self.scheme}://…" if self.scheme else "…"

    @property
    def recipient(self) -> str:
        """What an outbox row names it by (Notification.recipient)."""
        return f"apprise:{self.pk}"


class NotificationRule(models.Model):
    """One step of a person's page plan: `target` after `delay_minutes`, for `severities`."""

    class Target(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        APPRISE = "apprise", "A paging channel"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules")
    target = models.CharField(max_length=16, choices=Target)
    channel = models.ForeignKey(PagingChannel, null=True, blank=True, on_delete=models.CASCADE, related_name="rules")
    order = models.PositiveSmallIntegerField(default=0)
    delay_minutes = models.PositiveSmallIntegerField(default=0)
    # A list of Severity values; every severity when the form leaves none ticked is refused.
    severities = models.JSONField(default=list)

    class Meta:
        ordering = ["order", "delay_minutes", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(target="apprise") & Q(channel__isnull=False))
                | (~Q(target="apprise") & Q(channel__isnull=True)),
                name="notificationrule_channel_iff_apprise",
                violation_error_message="A rule for a paging channel names one; email and Slack rules do not.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target_label} after {self.delay_minutes} min for {', '.join(self.severities)}"

    @property
    def target_label(self) -> str:
        if self.target == self.Target.APPRISE and self.channel is not None:
            return self.channel.label
        return self.Target(self.target).label

    @property
    def severity_labels(self) -> list[str]:
        return [Severity(s).label for s in Severity.values if s in self.severities]


# Quiet hours hold back pages about these severities only: Critical and High always wake people.
QUIET_SEVERITIES = (Severity.LOW, Severity.MEDIUM)


class QuietHours(models.Model):
    """From `start` to `end` (wall-clock time in the person's Profile.time_zone, the site's when
    empty; `end` before `start` spans midnight), pages about Low and Medium incidents wait."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiet_hours")
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        verbose_name_plural = "quiet hours"
        constraints = [models.CheckConstraint(condition=~Q(start=models.F("end")), name="quiethours_not_empty")]

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"

    def ends_after(self, local: dt.datetime) -> dt.datetime | None:
        """When the quiet hours holding `local` (an aware wall-clock time) end, or None when
        `local` is outside them."""
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= t < self.end
            end_day = local.date()
        else:  # spans midnight: 22:00–07:00
            inside = t >= self.start or t < self.end
            end_day = local.date() + dt.timedelta(days=1) if t >= self.start else local.date()
        if not inside:
            return None
        return dt.datetime.combine(end_day, self.end, tzinfo=local.tzinfo)
