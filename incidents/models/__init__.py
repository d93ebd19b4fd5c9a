"""Beacon's incident models, one module per area; import them from here."""

from incidents.models.alerts import Alert, AlertGroup, Heartbeat  # noqa: F401, E402
from incidents.models.core import (  # noqa: F401
    OPEN_STATUSES,
    REF_RE,
    SEVERITY_DEFINITIONS,
    Incident,
    IncidentQuerySet,
    Profile,
    Service,
    Severity,
    Status,
    TimelineEntry,
)
from incidents.models.notifications import ChannelProblem, Notification, Subscription  # noqa: F401, E402
from incidents.models.oncall import Handoff, Override, Rotation, RotationMember  # noqa: F401, E402
from incidents.models.security import IdempotencyKey, PasswordResetRequest  # noqa: F401, E402
from incidents.models.tokens import ApiToken, Integration, hash_token  # noqa: F401, E402
from incidents.models.updates import StatusUpdate  # noqa: F401, E402
