"""Presentation of incidents: badge classes, times, durations and sanitised markdown."""

from datetime import datetime, timedelta
from functools import lru_cache

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.template.defaultfilters import capfirst, pluralize, truncatechars
from django.utils.dateformat import format as date_format
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime, now

from incidents.formrender import render_field, render_form
from incidents.markup import render_markdown
from incidents.models import Profile
from incidents.people import display_name

register = template.Library()


@register.filter
def bootstrap(form):
    """`{{ form|bootstrap }}`: the form as crispy-forms' Bootstrap 5 pack draws it, several times
    faster (incidents/formrender.py)."""
    return render_form(form)


SEVERITY_CLASSES = {
    "critical": "text-bg-danger",
    "high": "text-bg-warning",
    "medium": "text-bg-info",
    "low": "text-bg-secondary",
}
STATUS_CLASSES = {
    "reported": "text-bg-danger",
    "acknowledged": "text-bg-warning",
    "mitigated": "text-bg-info",
    "resolved": "text-bg-success",
    "closed": "text-bg-light border",
}


@register.filter
def bootstrap_field(field):
    """`{{ form.name|bootstrap_field }}`: one field as `bootstrap` draws it (incidents/formrender.py)."""
    return render_field(field)


@register.filter
def severity_class(severity: str) -> str:
    return SEVERITY_CLASSES.get(str(severity), "text-bg-secondary")


@register.filter
def status_class(status: str) -> str:
    return STATUS_CLASSES.get(str(status), "text-bg-secondary")


# The two badges every list of incidents shows, once per row: written here rather than included
# (an include per badge per row was a measurable share of the list and dashboard). The trailing
# newline keeps the HTML what the templates they replaced gave.
@register.simple_tag
def severity_badge(incident) -> str:
    return format_html(
        '<span class="badge {}" title="{}">{}</span>\n',
        severity_class(incident.severity),
        incident.severity_definition,
        incident.get_severity_display(),
    )


@register.simple_tag
def status_badge(incident) -> str:
    return format_html(
        '<span class="badge {}">{}</span>\n', status_class(incident.status), incident.get_status_display()
    )


_RESTRICTED_BADGE = '<span class="badge text-bg-dark">Restricted</span> '
# A service in a maintenance window: its incidents page nobody (incidents/maintenance/).
_MAINTENANCE_BADGE = '<span class="badge text-bg-warning during-maintenance">During maintenance</span> '


@register.simple_tag(takes_context=True)
def dashboard_row(context, incident) -> str:
    """One open incident of the dashboard: a table row from 768 px, a stacked card below
    (static/css/beacon.css). Drawn here, every value through `escape`, rather than by an include
    per row, which was a quarter of the dashboard's time (bench/results.md); the context gives
    `may_respond`, `user`, `csrf_token` and `dashboard_url`, where each row's forms come back to,
    and `maintenance_services`, the services in a maintenance window now."""
    ref, url = incident.ref, escape(incident.get_absolute_url())
    reported = incident.status == "reported"
    restricted = _RESTRICTED_BADGE if incident.restricted else ""
    if incident.service_id in context.get("maintenance_services", ()):
        restricted += _MAINTENANCE_BADGE
    lead = f" · lead {escape(display_name(incident.lead))}" if incident.lead_id else ""
    waited = (
        f'<span class="small fw-semibold waited">waiting {since(incident.reported_at)}</span>'
        if reported
        else f'<span class="small text-body-secondary">open {since(incident.reported_at)}</span>'
    )
    actions = ""
    if context.get("may_respond"):
        # What {% csrf_token %} draws, from the request's one lazy token.
        csrf = f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(context.get("csrf_token"))}">'
        back = f'<input type="hidden" name="next" value="{escape(context.get("dashboard_url", ""))}">'

        def form(action: str, button: str, label: str, hidden: str) -> str:
            return (
                f'<form method="post" action="{escape(incident.urls[action])}">{csrf}{back}'
                f'<button class="btn {button}" type="submit">{label}'
                f'<span class="visually-hidden"> {hidden}</span></button></form>'
            )

        forms = []
        if reported:
            forms.append(form("acknowledge", "btn-warning", "Acknowledge", ref))
        if incident.lead_id != getattr(context.get("user"), "pk", None):
            forms.append(form("take", "btn-primary", "Take it", f"({ref})"))
        actions = '\n  <td class="cell-actions">' + "\n".join(forms) + "</td>"
    return mark_safe(  # noqa: S308 -- every value above went through escape()
        f'<tr class="incident-row{" unacknowledged" if reported else ""}" data-ref="{ref}">\n'
        f'  <td class="cell-ref text-nowrap"><a href="{url}" class="fw-semibold">{ref}</a></td>\n'
        f'  <td class="cell-title"><a class="text-body text-decoration-none title" href="{url}">'
        f"{escape(incident.title)}</a>\n"
        f'    <div class="small text-body-secondary">{restricted}{escape(incident.type)} · '
        f"{escape(incident.service)}{lead}</div></td>\n"
        f'  <td class="cell-severity"><span class="visually-hidden">Severity: </span>{severity_badge(incident)}</td>\n'
        f'  <td class="cell-status"><span class="visually-hidden">Status: </span>{status_badge(incident)}{waited}</td>'
        f"{actions}\n</tr>"
    )


@register.simple_tag
def list_row(incident) -> str:
    """One row of the incident list, drawn here like `dashboard_row` (a page of 25 of them)."""
    ref, url = incident.ref, escape(incident.get_absolute_url())
    restricted = _RESTRICTED_BADGE if incident.restricted else ""
    return mark_safe(  # noqa: S308 -- every value went through escape() or is Beacon's own HTML
        f'<tr>\n  <td class="text-nowrap"><a href="{url}">{ref}</a></td>\n'
        f'  <td><a class="text-body text-decoration-none" href="{url}">{escape(incident.title)}</a>\n'
        f'    <div class="small text-body-secondary">{restricted}{escape(incident.type)}</div></td>\n'
        f"  <td>{severity_badge(incident)}</td>\n  <td>{status_badge(incident)}</td>\n"
        f"  <td>{escape(incident.service)}</td>\n"
        f'  <td class="d-none d-md-table-cell">{escape(display_name(incident.lead, "—"))}</td>\n'
        f'  <td class="text-nowrap">{timestamp(incident.reported_at, "Y-m-d H:i", title="Y-m-d H:i T")}</td>\n</tr>'
    )


@register.simple_tag
def entry_header(entry) -> str:
    """A timeline entry's line of when, how long ago, who and how (25 a page: drawn here)."""
    via = entry.data.get("via") if isinstance(entry.data, dict) else None
    how = f'\n    <span class="entry-via" data-via="{escape(via)}">{escape(via_label(via))}</span>' if via else ""
    who = escape(display_name(entry.author)) if entry.author_id else "Beacon"
    return mark_safe(  # noqa: S308 -- every value went through escape() or is Beacon's own HTML
        f'<div class="small text-body-secondary">\n'
        f"    {timestamp(entry.created_at, 'Y-m-d H:i T', title='Y-m-d H:i:s T')}\n"
        f"    · {relative_time(entry.created_at)}\n"
        f"    · {who}{how}\n  </div>"
    )


def _entry_body(entry) -> list[str]:
    """The lines of a timeline entry's body, by kind: what _entry.html drew, line for line."""
    data = entry.data if isinstance(entry.data, dict) else {}

    def value(key: str, default: str | None = None) -> str:
        """`{{ entry.data.key }}` (with `|default:default`): escaped, "" when absent."""
        found = data.get(key, "")
        return escape(found or default if default is not None else found)

    def item(values, index: int):
        """`{{ values.0 }}`: "" when there is no such item."""
        return values[index] if isinstance(values, list | tuple) and len(values) > index else ""

    def badge(key: str, classes) -> str:
        old = data.get(key, "")
        return f'<span class="badge {escape(classes(old))}">{escape(capfirst(old))}</span>'

    kind, text = entry.kind, entry.text
    if kind == "note":
        return [f'<div class="note markdown">{entry.text_html}</div>']
    if kind == "reported":
        line = "<strong>Reported</strong>"
        line += f" as {value('type')}," if data.get("type") else ""
        line += f" as {escape(capfirst(data.get('severity', '')))}"
        line += ", restricted" if data.get("restricted") else ""
        line += f" from {value('source')}" if data.get("source") and data.get("source") != "web" else ""
        line += "."
        if data.get("tasks"):
            tasks = data["tasks"]
            line += (
                f' <span class="text-body-secondary">{escape(tasks)} task{pluralize(tasks)} from its checklist.</span>'
            )
        return [line]
    if kind == "status_change":
        resolved = (
            '<span class="text-body-secondary small">Resolution (confirmed users are no longer affected):</span>'
            if data.get("new") == "resolved"
            else ""
        )
        return [
            f"<strong>{'Reopened' if data.get('reopened') else 'Status'}</strong>",
            f"{badge('old', status_class)} → {badge('new', status_class)}",
            f'<span class="text-body-secondary">· lead: {value("lead")}</span>' if data.get("lead") else "",
            f'<div class="mt-1 markdown">{resolved}{entry.text_html}</div>' if text else "",
        ]
    if kind == "severity_change":
        return [
            "<strong>Severity</strong>",
            f"{badge('old', severity_class)} → {badge('new', severity_class)}",
            f'<span class="text-body-secondary">— {escape(text)}</span>' if text else "",
        ]
    if kind == "lead_change":
        return [f"<strong>Lead</strong> {value('old', 'nobody')} → {value('new', 'nobody')}"]
    if kind == "edit":
        changes = data.get("changes")
        items = "".join(
            f"<li>{escape(field)}: <del>{escape(truncatechars(item(values, 0), 120))}</del> → "
            f"{escape(truncatechars(item(values, 1), 120))}</li>"
            for field, values in (changes.items() if isinstance(changes, dict) else ())
        )
        return ["<strong>Report edited</strong>", f'<ul class="small mb-0">{items}</ul>']
    if kind == "role":
        return [f"<strong>{value('role')}</strong> {value('old', 'nobody')} → {value('new', 'nobody')}"]
    if kind == "task":
        required = ' <span class="badge text-bg-warning">Required</span>' if data.get("required") else ""
        assigned = f" → {value('new', 'nobody')}" if data.get("action") == "assigned" else ""
        return [f"<strong>Task {value('action')}</strong>{required}: {value('task')}{assigned}"]
    if kind == "visibility":
        shown = "Shown on" if data.get("new") else "Hidden from"
        return [f"<strong>{shown} the public status page</strong>"]
    if kind == "access":
        if data.get("participant_added"):
            what = f"Participant added: {value('participant_added')}"
        elif data.get("participant_removed"):
            what = f"Participant removed: {value('participant_removed')}"
        else:
            what = "Restricted (need-to-know)" if data.get("restricted") else "Restriction lifted"
        return [
            f"<strong>{what}</strong>",
            '<span class="text-body-secondary">· taken off the public status page</span>'
            if data.get("was_public")
            else "",
            f'<div class="mt-1">{escape(text)}</div>' if text else "",
        ]
    if kind == "status_update":
        public = data.get("public")
        audience = ("text-bg-primary", "Public") if public else ("text-bg-secondary", "Internal")
        return [
            f'<strong>Status update</strong> <span class="badge {audience[0]}">{audience[1]}</span>',
            f'<div class="mt-1 pre-wrap">{escape(text)}</div>',
        ]
    shown_text = f': <span class="entry-text">{entry.text_html}</span>' if text else ""
    return [f"<strong>{escape(entry.get_kind_display())}</strong>{shown_text}"]


@register.simple_tag
def timeline_entry(entry) -> str:
    """One entry of the incident page's timeline (25 a page, up to thousands asked for): drawn here
    rather than by an include each, which with the entry's template was a tenth of the page's
    time. Every value goes through `escape()`; the text as stored, sanitised (`text_html`)."""
    body = "\n".join(f"    {line}" for line in _entry_body(entry))
    kind = escape(entry.kind)
    return mark_safe(  # noqa: S308 -- every value went through escape() or is sanitised HTML
        f'<li class="timeline-entry kind-{kind}" id="entry-{entry.pk}" data-kind="{kind}">\n'
        f"  {entry_header(entry)}\n"
        f'  <div class="entry-body">\n  \n{body}\n  \n  </div>\n</li>\n'
    )


@register.simple_tag(takes_context=True)
def nav_links(context) -> str:
    """The main menu's links (_nav_links.html), drawn once a page: the bar (from 768 px) and the
    phone menu show the same links for the same request."""
    request = context.get("request")
    drawn = getattr(request, "_beacon_nav_links", None)
    if drawn is None:
        drawn = context.template.engine.get_template("_nav_links.html").render(context)
        if request is not None:
            request._beacon_nav_links = drawn
    return drawn


# Where a timeline entry came from (incidents/workflow.py, `via`), as the timeline says it.
VIA_LABELS = {
    "web": "on the web",
    "email": "from the email link",
    "slack": "from Slack",
    "api": "through the API",
    "alert": "from an alert",
}


# Format characters drawn without Django's formatter (the same text as the `date` filter gives);
# any other character in a format sends it through Django's.
_FAST_FORMAT = {
    "Y": lambda v: f"{v.year:04d}",
    "m": lambda v: f"{v.month:02d}",
    "d": lambda v: f"{v.day:02d}",
    "j": lambda v: str(v.day),
    "H": lambda v: f"{v.hour:02d}",
    "i": lambda v: f"{v.minute:02d}",
    "s": lambda v: f"{v.second:02d}",
    "T": lambda v: v.tzname() or "",
}


@lru_cache(maxsize=64)
def _compiled(fmt: str):
    if any(c.isalpha() and c not in _FAST_FORMAT for c in fmt) or "\\" in fmt:
        return None
    return [(_FAST_FORMAT.get(c), c) for c in fmt]


def _format(value: datetime, fmt: str) -> str:
    parts = _compiled(fmt)
    if parts is None:
        return date_format(value, fmt)
    return "".join(draw(value) if draw else c for draw, c in parts)


@register.simple_tag
def timestamp(value: datetime | None, fmt: str = "Y-m-d H:i T", title: str = "") -> str:
    """`<time datetime="…" title="…">…</time>` for an aware datetime in the reader's time zone:
    what `<time datetime="{{ v|date:'c' }}" title="{{ v|date:title }}">{{ v|date:fmt }}</time>`
    draws, converted once instead of three times (one per filter). Lists and timelines draw one
    per row, and the three filters were a tenth of the incident list's time (bench/results.md)."""
    if value is None:
        return ""
    local = localtime(value)
    if title:
        return format_html(
            '<time datetime="{}" title="{}">{}</time>', local.isoformat(), _format(local, title), _format(local, fmt)
        )
    return format_html('<time datetime="{}">{}</time>', local.isoformat(), _format(local, fmt))


@register.filter
def via_label(via: str) -> str:
    return VIA_LABELS.get(str(via), "")


@register.filter
def duration(value) -> str:
    """A timedelta (or seconds) as '3 d 4 h', '2 h 5 min', '4 min', '12 s'."""
    if value is None or value == "":
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 0:
        seconds = 0
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


@register.filter
def since(value: datetime | None) -> str:
    """How long ago: the duration from `value` to now."""
    if value is None:
        return ""
    return duration(now() - value)


@register.filter
def relative_time(value: datetime | None) -> str:
    if value is None:
        return ""
    delta = now() - value
    if delta < timedelta(seconds=0):
        return "in " + duration(-delta)
    if delta < timedelta(seconds=45):
        return "just now"
    return duration(delta) + " ago"


@register.filter
def between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return duration(end - start)


@register.filter
def markdown(text: str) -> str:
    """Render markdown written by engineers, sanitised: raw HTML in it is shown as text."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised by nh3 (incidents/markup.py)


@register.filter
def person(user, fallback: str = "") -> str:
    """A user's full name, else their username; `fallback` when there is nobody."""
    return display_name(user, fallback)


THEMES = tuple(Profile.Theme.choices)


@register.simple_tag
def user_theme(user) -> str:
    """The signed-in user's colour scheme ("auto", "light" or "dark"); "auto" for everyone else.

    The profile is the one UserTimezoneMiddleware already loaded for this request: no query."""
    if not getattr(user, "is_authenticated", False):
        return "auto"
    try:
        theme = user.profile.theme
    except ObjectDoesNotExist:
        return "auto"
    return theme if theme in dict(THEMES) else "auto"


@register.simple_tag
def theme_choices():
    return THEMES
