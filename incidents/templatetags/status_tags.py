"""Presentation for the public status page: the colour of a service state and of a public status."""

from django import template

register = template.Library()

STATE_CLASSES = {
    "operational": "text-bg-success",
    "degraded": "text-bg-warning",
    "major_outage": "text-bg-danger",
}
BANNER_CLASSES = {
    "operational": "alert-success",
    "degraded": "alert-warning",
    "major_outage": "alert-danger",
}
PUBLIC_STATUS_CLASSES = {
    "Investigating": "text-bg-danger",
    "Monitoring": "text-bg-info",
    "Resolved": "text-bg-success",
}


@register.filter
def state_class(state) -> str:
    return STATE_CLASSES.get(str(state), "text-bg-secondary")


@register.filter
def banner_class(state) -> str:
    return BANNER_CLASSES.get(str(state), "alert-secondary")


@register.filter
def public_status_class(status: str) -> str:
    return PUBLIC_STATUS_CLASSES.get(status, "text-bg-secondary")
