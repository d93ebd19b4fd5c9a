"""Beacon's incident models, one module per area; import them from here."""

from incidents.models.alerts import ALERT_SOURCES, Alert, AlertGroup, Heartbeat, WebhookMapping  # noqa: F401, E402
from incidents.models.channels import NotificationRule, PagingChannel, QuietHours  # noqa: F401, E402
from incidents.models.core import (  # noqa: F401
    DEFAULT_TYPE_SLUG,
    OPEN_STATUSES,
    REF_RE,
    SEVERITY_DEFINITIONS,
    SHIPPED_TYPES,
    Incident,
    IncidentLink,
    IncidentQuerySet,
    IncidentType,
    Profile,
    Service,
    Severity,
    Status,
    TimelineEntry,
    access_condition,
    ensure_shipped_types,
)
from incidents.models.escalation import (  # noqa: F401, E402
    EscalationPolicy,
    EscalationStep,
    ensure_default_policy,
)
from incidents.models.identity import ExternalIdentity  # noqa: F401, E402
from incidents.models.mailin import InboundMail  # noqa: F401, E402
from incidents.models.maintenance import (  # noqa: F401, E402
    COMMENT_MAX,
    DESCRIPTION_MAX,
    MATCHERS_MAX,
    OPERATORS,
    MaintenanceWindow,
    Silence,
    SilencedAlert,
    matchers_text,
    parse_matchers,
    silence_for,
    validate_matchers,
)
from incidents.models.notifications import (  # noqa: F401, E402
    ChannelProblem,
    EmailActionUse,
    Notification,
    SlackChannel,
    SlackMessage,
    StatusSubscriber,
    Subscription,
)
from incidents.models.oncall import Handoff, Override, Rotation, RotationMember  # noqa: F401, E402
from incidents.models.reference import ReferenceGeneration  # noqa: F401, E402
from incidents.models.response import (  # noqa: F401, E402
    SHIPPED_CHECKLISTS,
    SHIPPED_ROLES,
    TASK_TITLE_MAX,
    ChecklistItem,
    ResponseRole,
    RoleAssignment,
    Task,
    ensure_shipped_response,
)
from incidents.models.retention import RetentionPolicy, RetentionRun  # noqa: F401, E402
from incidents.models.security import IdempotencyKey, PasswordResetRequest, PublicRequest  # noqa: F401, E402
from incidents.models.statuspage import StatusPageGeneration  # noqa: F401, E402
from incidents.models.teams import Team, TeamMembership  # noqa: F401, E402
from incidents.models.tokens import ApiToken, Integration, hash_token  # noqa: F401, E402
from incidents.models.typefields import CustomField, ReviewSection  # noqa: F401, E402
from incidents.models.updates import (  # noqa: F401, E402
    SHIPPED_UPDATE_TEMPLATES,
    StatusUpdate,
    UpdateTemplate,
    ensure_shipped_update_templates,
)
from incidents.models.userreports import UserReport  # noqa: F401, E402
from incidents.models.webhooks import Webhook  # noqa: F401, E402
