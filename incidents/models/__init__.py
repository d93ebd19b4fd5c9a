"""Beacon's incident models, one module per area; import them from here."""

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
