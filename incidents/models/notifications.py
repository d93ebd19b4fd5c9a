"""Who hears what (Subscription) and the outbox of messages to them (Notification).

A Notification row is written in the same transaction as the change that causes it;
its state, not the task backend's row, is the truth about delivery (docs/notifications.md).
"""

import uuid

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils.timezone import now

from incidents.models.core import Incident, Service, Severity, TimelineEntry
from incidents.models.webhooks import Webhook


class SubscriptionQuerySet(models.QuerySet):
    def follow(self, user, **target) -> None:
        """`user` follows `target` (incident=… or service=…); following twice, or two requests at
        once, is fine. A savepoint: the losing insert must not poison the caller's transaction."""
        try:
            with transaction.atomic():
                self.get_or_create(user=user, **target)
        except IntegrityError:
            pass


class Subscription(models.Model):
    """One person (a user, or an outside email address) hearing about one incident, one
    service, or every new incident at or above a severity.

    Outside addresses (people without an account) are kept by managers on a service's
    stakeholder list and only ever receive public content.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions"
    )
    email = models.EmailField(blank=True, help_text="An outside stakeholder without an account.")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions"
    )
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions")
    min_severity = models.CharField("every new incident at or above", max_length=8, choices=Severity, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        constraints = [
            # Exactly one of user / outside address.
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(email="")) | (Q(user__isnull=True) & ~Q(email="")),
                name="subscription_one_recipient",
                violation_error_message="Give either a user or an outside email address, not both.",
            ),
            # Exactly one target.
            models.CheckConstraint(
                condition=(Q(incident__isnull=False) & Q(service__isnull=True) & Q(min_severity=""))
                | (Q(incident__isnull=True) & Q(service__isnull=False) & Q(min_severity=""))
                | (Q(incident__isnull=True) & Q(service__isnull=True) & ~Q(min_severity="")),
                name="subscription_one_target",
                violation_error_message="A subscription is to one incident, one service or one severity.",
            ),
            # Outside addresses only on a service's stakeholder list, or on the incident a user's
            # report joined (incidents/user_reports.py: confirmed addresses only).
            models.CheckConstraint(
                condition=Q(email="") | Q(service__isnull=False) | Q(incident__isnull=False),
                name="subscription_outside_only_service",
                violation_error_message="Outside email addresses belong on a service's stakeholder list.",
            ),
            models.UniqueConstraint(
                fields=["user", "incident"], condition=Q(incident__isnull=False), name="subscription_user_incident"
            ),
            models.UniqueConstraint(
                fields=["user", "service"],
                condition=Q(user__isnull=False, service__isnull=False),
                name="subscription_user_service",
            ),
            models.UniqueConstraint(
                fields=["email", "service"], condition=~Q(email=""), name="subscription_email_service"
            ),
            models.UniqueConstraint(
                fields=["email", "incident"],
                condition=~Q(email="") & Q(incident__isnull=False),
                name="subscription_email_incident",
            ),
            # One severity threshold per user.
            models.UniqueConstraint(fields=["user"], condition=~Q(min_severity=""), name="subscription_user_severity"),
        ]

    def __str__(self) -> str:
        who = self.email or str(self.user)
        if self.incident_id:
            return f"{who} follows INC-{self.incident_id}"
        if self.service_id:
            return f"{who} follows {self.service}"
        return f"{who} hears every {self.get_min_severity_display()}+ incident"

    @property
    def is_outside(self) -> bool:
        return bool(self.email)


class StatusSubscriber(models.Model):
    """Someone without an account who asked, on the public status page, for its updates by email:
    every public service, or the ones chosen. Created only when the address confirmed (the
    signed link of the confirmation email, incidents/notifications/subscribers.py): an address
    nobody confirmed is never stored. Hears public content only, like a stakeholder list."""

    email = models.EmailField(unique=True)  # lower case
    all_services = models.BooleanField(default=True, help_text="Every service on the status page.")
    services = models.ManyToManyField(Service, blank=True, related_name="status_subscribers")
    confirmed_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class NotificationQuerySet(models.QuerySet):
    def due(self, at):
        """Rows a worker should pick up now: pending and due, or stuck in sending past their lease."""
        return self.filter(
            Q(state=Notification.State.PENDING, next_attempt_at__lte=at)
            | Q(state=Notification.State.SENDING, lease_until__lt=at)
        )


class Notification(models.Model):
    """One message to one recipient over one channel: the outbox row.

    `(event_key, channel, recipient)` is the idempotency key: writing the same event twice
    adds nothing. Delivery claims the row by compare-and-set with a lease (delivery.py).
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        # The Slack app (Web API with a bot token): the incident's message, posted once and
        # updated in place, and ephemeral replies (incidents/notifications/slackapp.py).
        SLACK_APP = "slack_app", "Slack app"
        # Outgoing webhooks (incidents/models/webhooks.py): the recipient is "webhook:<pk>".
        WEBHOOK = "webhook", "Webhook"
        # A user's own paging channel (incidents/models/channels.py): the recipient is
        # "apprise:<pk>", never the secret URL itself.
        APPRISE = "apprise", "Paging channel"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # A delayed page the incident's acknowledgement made pointless (outbox.drop_delayed_pages).
        SKIPPED = "skipped", "Skipped"

    class Audience(models.TextChoices):
        TEAM = "team", "Team (may carry internal content)"
        PUBLIC = "public", "Public content only"

    # The Message-ID of an email: a duplicate after a crash is recognisable by it.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_key = models.CharField(max_length=200)
    channel = models.CharField(max_length=16, choices=Channel)
    # An email address (lower case), a Slack destination ("site", "service:<id>"), a webhook ("webhook:<id>")
    # or a user's paging channel ("apprise:<id>").
    recipient = models.CharField(max_length=254)
    audience = models.CharField(max_length=8, choices=Audience, default=Audience.TEAM)
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    entry = models.ForeignKey(TimelineEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    status_subscriber = models.ForeignKey(
        StatusSubscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    # Why this recipient hears it: "lead", "direct" (no subscription), or "subscription"
    # (kept when the subscription is deleted, so a second unsubscribe click does no more).
    reason = models.CharField(max_length=16, blank=True)
    # Rendered when the event happens, so a later edit of the incident cannot leak into it.
    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)

    state = models.CharField(max_length=8, choices=State, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    permanent_error = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event_key", "channel", "recipient"], name="notification_idempotency"),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "sending", "sent", "failed", "skipped"]),
                name="notification_state_valid",
            ),
        ]
        indexes = [
            # The sweeper: unfinished rows by due time (delivery.sweep).
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "sending"]),
                name="notification_unfinished",
            ),
            # The incident page's delivery ledger, newest first (notifications.ledger_panel).
            models.Index(fields=["incident", "-created_at"], name="notification_incident"),
            # The admin's failed list.
            models.Index(fields=["state", "-created_at"], name="notification_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient} ({self.event_key})"


class EmailActionUse(models.Model):
    """A used action link of an email (incidents/notifications/actions.py): its nonce is unique,
    so each link acts once. Written in the transaction of the action it performed."""

    nonce = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=16)
    used_at = models.DateTimeField(default=now, editable=False)

    def __str__(self) -> str:
        return f"{self.action} INC-{self.incident_id} by {self.user_id} at {self.used_at:%Y-%m-%d %H:%M}"


class SlackMessage(models.Model):
    """Where the Slack app posted an incident's message (channel and ts), so that every later
    change updates that one message in place (chat.update). `ts` is empty while the first post
    is under way; `claimed_at` lets another worker take over a post whose worker died."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="slack_messages")
    channel = models.CharField(max_length=32)
    ts = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "channel"], name="slackmessage_one_per_channel"),
        ]

    def __str__(self) -> str:
        return f"INC-{self.incident_id} in {self.channel} ({self.ts or 'posting'})"


class SlackChannel(models.Model):
    """The Slack channel of one Critical or High incident (SLACK_INCIDENT_CHANNELS): created by
    the first delivery that needs it, the lead invited, each timeline change posted, archived
    when the incident is closed. `channel_id` is empty while the channel is being created."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="slack_channel")
    name = models.CharField(max_length=80)
    channel_id = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(default=now)
    archived_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"#{self.name} ({self.channel_id or 'being created'})"


class ChannelProblem(models.Model):
    """A channel that cannot deliver until someone fixes it: a Slack webhook that is gone
    (404, 410, invalid_token…) or an SMTP server refusing Beacon's login.

    Written by delivery.py when a transport says so, deleted by the next delivery that
    succeeds on the same destination; while it exists managers see a banner on the dashboard
    and the service page, and they are emailed once (`told_at`, by the sweeper:
    incidents/notifications/health.py).
    """

    channel = models.CharField(max_length=16)
    # "smtp" for email; "site" or "service:<pk>" for Slack, "webhook:<pk>" (as Notification.recipient).
    destination = models.CharField(max_length=64)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    error = models.TextField()
    since = models.DateTimeField(default=now)
    last_failure_at = models.DateTimeField(default=now)
    told_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ("view",)
        constraints = [models.UniqueConstraint(fields=["channel", "destination"], name="one_problem_per_destination")]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.channel == "email":
            return "Email: the SMTP server refuses Beacon's sign-in"
        if self.channel == "webhook":
            hook = Webhook.objects.filter(pk=self.destination.removeprefix("webhook:")).first()
            return f"Outgoing webhook: {hook.name if hook else self.destination + ' (deleted)'}"
        if self.service_id:
            return f"Slack: the webhook of {self.service}"
        return "Slack: the site-wide webhook (SLACK_WEBHOOK_URL)"
