"""The public pages served from Django's cache, never stale, with ETag, Last-Modified and 304s.

How a page can be cached and still never show what it no longer should:

* One database row (`StatusPageGeneration`, pk 1) holds a counter. Every write that changes
  what a public page shows bumps it *inside its own transaction* (`bump()`): a public status
  update, a state or severity change, an edit, making an incident public or internal, a
  published or withdrawn public review summary (all of them timeline entries, see
  `entry_changed`), any save or delete of a service or a public status update (signals,
  for the admin), and any change of a maintenance window or its services. The change and the
  new generation commit together or not at all; a crash after COMMIT cannot leave an old page
  behind, as a bump in `transaction.on_commit` could.
* Each request reads the counter (one primary-key query) and looks the page up in Django's
  cache under `status:<generation>:<page>`. A page rendered before the change sits under the
  old generation and is never read again. So the cache may be a per-process memory cache
  (the default): every gunicorn worker checks the same counter in the database, none can
  serve a page older than the last commit. A shared cache (CACHE_URL=redis://…) only lets
  the workers share the rendering.
* Entries expire after CACHE_SECONDS, because things on the page move with the clock
  alone: resolved incidents leave the 14-day list, the "resolved" window slides, and
  maintenance goes from scheduled to in progress to over.

The ETag is a digest of the page's bytes, Last-Modified is when it was rendered; a reader
that sends either back gets 304 Not Modified while the page is unchanged.

Writes that bypass the workflow and the model signals (bulk_create, QuerySet.update, raw SQL)
must call `bump()` themselves in their transaction.
"""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.utils.timezone import now

from incidents.models import Incident, Service, StatusPageGeneration, StatusUpdate, TimelineEntry, plain

# Seconds a rendered page may be reused while nothing changes (see the module docstring).
CACHE_SECONDS = 60
KEY_PREFIX = "status"

Kind = TimelineEntry.Kind
# Timeline entries the public pages never show anything of, even on a public incident.
UNSEEN_KINDS = {
    Kind.NOTE,
    Kind.NOTIFICATION,
    Kind.PAGE,
    Kind.ESCALATION,
    Kind.LEAD_CHANGE,
    Kind.ALERT_FIRED,
    Kind.ALERT_RESOLVED,
}


def current() -> int:
    """The generation the pages are cached under now (0 before the first bump).

    Plain SQL: this runs on every public request, and building the same ORM query each time cost
    more than the database's answer (bench/results.md).

    The query is also the request's connection health check (`plain.first_query`).
    """
    return plain.first_query(_read_generation)


def _read_generation() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT generation FROM {StatusPageGeneration._meta.db_table} WHERE id = 1")
        found = cursor.fetchone()
    return found[0] if found else 0


def bump() -> None:
    """Make every cached public page out of date, in the caller's transaction."""
    StatusPageGeneration.bump(changed_at=now())


def shows(entry: TimelineEntry) -> bool:
    """Whether the public pages may show something of this new timeline entry."""
    if entry.kind == Kind.VISIBILITY:
        return True  # public -> internal must drop the incident at once; internal -> public adds it
    if not entry.incident.public or entry.kind in UNSEEN_KINDS:
        return False
    if entry.kind == Kind.STATUS_UPDATE:
        return bool(entry.data.get("public"))
    return True  # reported, edit (title, service), status and severity changes, review summaries


def entry_changed(entry: TimelineEntry) -> None:
    """workflow.on_entry listener: bump when the entry changes what a public page shows."""
    if shows(entry):
        bump()


def service_changed(sender, instance: Service, **kwargs) -> None:
    """post_save / post_delete of a service: its name, description and is_public are on /status/."""
    bump()


def update_changed(sender, instance: StatusUpdate, **kwargs) -> None:
    """post_save / post_delete of a status update (the workflow, or the admin)."""
    if instance.public:
        bump()


def maintenance_changed(sender, **kwargs) -> None:
    """post_save / post_delete of a maintenance window, or a change of its services: the page
    announces scheduled and ongoing maintenance."""
    bump()


def incident_saved(sender, instance: Incident, **kwargs) -> None:
    """post_save of a public incident: any field the page shows may have changed (also the admin)."""
    if instance.public:
        bump()


def serve(request: HttpRequest, page: str, render: Callable[[], HttpResponse]) -> HttpResponse:
    """The page `page` (a key unique to what `render` returns) from the cache, or rendered and kept.

    Only 200 and 404 answers are kept; they carry ETag and Last-Modified, and a matching
    If-None-Match or If-Modified-Since gets 304.
    """
    key = f"{KEY_PREFIX}:{current()}:{page}"
    kept = cache.get(key)
    if kept is None:
        response = render()
        if response.status_code not in (200, 404) or response.streaming:
            return response
        etag = f'"{hashlib.blake2b(response.content, digest_size=16).hexdigest()}"'
        rendered_at = int(datetime.now(UTC).timestamp())
        cache.set(
            key, (response.status_code, response["Content-Type"], response.content, etag, rendered_at), CACHE_SECONDS
        )
    else:
        status, content_type, content, etag, rendered_at = kept
        response = HttpResponse(content, status=status, content_type=content_type)
    response["ETag"] = etag
    response["Last-Modified"] = http_date(rendered_at)
    if response.status_code == 200:
        not_modified = get_conditional_response(request, etag=etag, last_modified=rendered_at, response=response)
        if not_modified is not None and not_modified is not response:
            return not_modified
    return response
