"""Ready-made status updates, one per phase of the response (Investigating, Identified,
Monitoring, Resolved, and whatever managers add in the admin).

A template's message names the incident's facts with placeholders, filled in when a responder
picks it; nothing else of the incident can be reached from a template (no attribute access, no
format specs: a manager's typo never shows more than they wrote). The incident page offers every
template and suggests the phase after the last one used.
"""

import re
from collections.abc import Sequence

from django.utils.timezone import localtime

from incidents import choices
from incidents.models import Incident, StatusUpdate, UpdateTemplate

PLACEHOLDERS = {
    "service": "the service's name",
    "reference": "the incident's reference (INC-42)",
    "title": "the incident's title",
    "started": "when the incident began, with its time zone",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def phases() -> list[tuple[int, str]]:
    """(id, name) of every template, in order: the links on the incident page (cached)."""
    return choices.cached("update_templates", lambda: list(UpdateTemplate.objects.values_list("pk", "name")))


def unknown_placeholders(message: str) -> list[str]:
    """The `{…}` in `message` that are not placeholders, in order (each once)."""
    unknown = [name for name in _PLACEHOLDER.findall(message) if name not in PLACEHOLDERS]
    return list(dict.fromkeys(unknown))


def fill(message: str, incident: Incident) -> str:
    """`message` with its placeholders replaced by the incident's facts (times in the active zone)."""
    started = localtime(incident.occurred_at)
    values = {
        "service": incident.service.name,
        "reference": incident.ref,
        "title": incident.title,
        "started": f"{started:%Y-%m-%d %H:%M} {started.tzname()}",
    }
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), message)


def suggested(templates: Sequence[tuple[int, str]], recent: Sequence[StatusUpdate]) -> str | None:
    """The name of the phase to post next: the one after the newest update's phase (`recent`,
    newest first); the first phase when no update named one; None after the last phase."""
    names = [name for _, name in templates]
    if not names:
        return None
    last = next((update.phase for update in recent if update.phase), "")
    if last not in names:
        return names[0]
    following = names.index(last) + 1
    return names[following] if following < len(names) else None
