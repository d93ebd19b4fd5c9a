"""The audit log of configuration changes (django-auditlog): who changed what, when, before and
after, for roles and group membership, teams and who is in (and manages) them, rotations and
overrides, escalation policies and their steps, integrations and API tokens (created, rotated,
revoked), outgoing webhooks (their secret masked), services (their runbooks included) and their
stakeholder lists, incident types, heartbeats, webhook mappings, the response roles and the types'
checklists (what must be done before a resolve), data retention (every change of the policy, and
every run with what it removed: incidents/retention.py), and each person's own settings: the
profile (time zone, email on or off, Slack member ID, colour scheme, the calendar feed's address),
their paging channels (the URL masked), rules and quiet hours, what they follow and their severity
threshold, their password (that it changed, never a value). Maintenance windows and silences too:
made and cancelled.

Recorded from the models' save/delete signals, so a change through Beacon's own pages (the
profile and notification settings, the token page, the rotation and override pages, the
runbook editor), a management command or the admin is logged alike; the actor is the
signed-in user (auditlog's middleware) or none for commands and for the signed links of
emails (unsubscribe, password reset: the entry's object names whose setting it was). Code
that changes these models must save rows one by one (no QuerySet.update or bulk_create, which
send no signals). Managers read the log in the admin (Audit log → Log entries); nobody can
add, change or delete an entry there.

Registered from IncidentsConfig.ready().
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from incidents.models import (
    ApiToken,
    ChecklistItem,
    EscalationPolicy,
    EscalationStep,
    ExternalIdentity,
    Heartbeat,
    IncidentType,
    Integration,
    MaintenanceWindow,
    NotificationRule,
    Override,
    PagingChannel,
    Profile,
    QuietHours,
    ResponseRole,
    RetentionPolicy,
    RetentionRun,
    Rotation,
    RotationMember,
    Service,
    Silence,
    Subscription,
    Team,
    TeamMembership,
    UpdateTemplate,
    Webhook,
    WebhookMapping,
)

# Secrets and bookkeeping that change without anyone configuring anything.
NOT_LOGGED = ["token_hash", "last_used_at", "password", "last_login", "created_at"]


def mask(value) -> str:
    """AUDITLOG_MASK_CALLABLE: a masked field shows that it changed (set, or emptied), never any
    of its value. auditlog hands over "None" for the side of a row that did not exist yet."""
    return "(secret, set)" if value and value != "None" else ""


def register() -> None:
    from auditlog.registry import auditlog

    # A password change (the password page, a reset link, the admin) is logged masked: that it
    # changed, by whom, when. (A hash Django upgrades at sign-in after an upgrade shows the same.)
    auditlog.register(
        get_user_model(),
        exclude_fields=["last_login"],
        mask_fields=["password"],
        m2m_fields={"groups", "user_permissions"},
    )
    auditlog.register(Group, m2m_fields={"permissions"})
    # Which provider identity opens which account (single sign-on): a link or unlink is logged.
    auditlog.register(ExternalIdentity, exclude_fields=["last_sign_in_at"])
    # A service's own Slack webhook URL is a secret: its change is logged, its value masked.
    auditlog.register(Service, mask_fields=["slack_webhook_url"])
    auditlog.register(Team, exclude_fields=NOT_LOGGED)
    auditlog.register(TeamMembership, exclude_fields=NOT_LOGGED)
    auditlog.register(Subscription, exclude_fields=NOT_LOGGED)
    auditlog.register(Rotation, exclude_fields=NOT_LOGGED, m2m_fields={"services"})
    # Escalation policies and their steps; a service's policy is a field of the service, logged there.
    auditlog.register(EscalationPolicy, exclude_fields=[*NOT_LOGGED, "updated_at"])
    auditlog.register(EscalationStep)
    auditlog.register(RotationMember)
    auditlog.register(Override, exclude_fields=NOT_LOGGED)
    auditlog.register(Integration, exclude_fields=NOT_LOGGED)
    auditlog.register(ApiToken, exclude_fields=NOT_LOGGED)
    auditlog.register(Heartbeat, exclude_fields=["last_seen_at", "silent_incident"])
    auditlog.register(WebhookMapping, exclude_fields=["updated_at"])
    auditlog.register(IncidentType)
    # The calendar token is the secret in the feed's address: a new one or none, never its value.
    auditlog.register(Profile, mask_fields=["calendar_token"])
    # Paging channels: the URL is a secret (masked); when a message last reached one is not a change.
    auditlog.register(PagingChannel, mask_fields=["url"], exclude_fields=["verified_at", "created_at"])
    auditlog.register(NotificationRule)
    auditlog.register(QuietHours)
    auditlog.register(ResponseRole)
    auditlog.register(ChecklistItem)
    auditlog.register(UpdateTemplate)
    # An outgoing webhook's secret signs its deliveries: that it changed (rotation), never its value.
    auditlog.register(Webhook, mask_fields=["secret"], exclude_fields=["secret_hint", "created_at"])
    # Maintenance windows and silences: made and cancelled (incidents/maintenance/rules.py).
    auditlog.register(MaintenanceWindow, exclude_fields=["created_at"], m2m_fields={"services"})
    auditlog.register(Silence, exclude_fields=["created_at"])
    # Data retention: the policy's every change, and each run (created when it starts, changed with
    # its counts when it ends: a run stopped half way shows as started and never finished).
    auditlog.register(RetentionPolicy, exclude_fields=["updated_at"])
    auditlog.register(RetentionRun)
