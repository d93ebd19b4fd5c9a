"""The public status page: no sign-in, shared caches welcome, public fields only.

Every view here reads through incidents/statuspage/projection.py, which loads only public columns
of public incidents and hands templates plain values. The pages are the same for every
reader (anonymous or signed in), which is what makes `Cache-Control: public` safe: no
user name, no navigation, no CSRF token, and times in the site's TIME_ZONE rather than
the reader's own.
"""

from functools import wraps

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import linebreaks
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from incidents.models import REF_RE
from incidents.statuspage import cache
from incidents.statuspage import projection as status_page

# Seconds a browser or proxy may reuse a status page: short, so news is at most this late.
MAX_AGE = 30


def page_key(request: HttpRequest, name: str, **kwargs) -> str:
    """What a rendering depends on: the page, its argument, and the address it was asked at (the
    feed's links are absolute). An incident's reference is reduced to its number, so INC-7, inc7
    and 7 share one entry and nonsense shares another."""
    if "ref" in kwargs:
        match = REF_RE.match(kwargs["ref"] or "")
        name = f"{name}:{int(match.group(1)) if match else '-'}"
    return f"{name}:{request.scheme}://{request.get_host()}"


def public_page(view):
    """Declare a view public: no sign-in, GET and HEAD only, site time zone, publicly cacheable for
    MAX_AGE, and served from Beacon's own cache while nothing it shows has changed (cache.py)."""

    @cache_control(public=True, max_age=MAX_AGE)
    @require_safe
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        def render() -> HttpResponse:
            # One rendering serves every reader through caches, so not the reader's own zone.
            with timezone.override(settings.TIME_ZONE):
                return view(request, *args, **kwargs)

        return cache.serve(request, page_key(request, getattr(view, "__name__", "feed"), **kwargs), render)

    return wrapped


def _context(**values) -> dict:
    return {"time_zone": settings.TIME_ZONE, **values}


@public_page
def index(request: HttpRequest) -> HttpResponse:
    overview = status_page.overview()
    return render(
        request,
        "status/index.html",
        _context(
            overview=overview,
            maintenance=status_page.maintenance(),
            now=timezone.now(),
            state_rules=status_page.STATE_RULES,
            status_rules=status_page.STATUS_RULES,
            updates_per_active=status_page.UPDATES_PER_ACTIVE,
        ),
    )


@public_page
def incident(request: HttpRequest, ref: str) -> HttpResponse:
    found = status_page.incident(ref)
    if found is None:
        # Missing and not public answer alike: the page must not confirm that an internal incident exists.
        return render(request, "status/404.html", _context(), status=404)
    return render(
        request,
        "status/incident.html",
        _context(incident=found, history_limit=status_page.HISTORY_LIMIT),
    )


class StatusFeed(Feed):
    """Atom feed of public status updates and maintenance announcements, newest first, at most
    status_page.FEED_LIMIT."""

    feed_type = Atom1Feed
    title = "Service status"
    subtitle = "Public updates about incidents affecting our services, and planned maintenance."
    author_name = "Service status"  # Atom wants an author; never a person's name

    def link(self) -> str:
        return reverse("status:index")

    def feed_url(self) -> str:
        return reverse("status:feed")

    def items(self):
        entries = [*status_page.feed_updates(), *status_page.feed_maintenance()]
        entries.sort(key=self.item_pubdate, reverse=True)
        return entries[: status_page.FEED_LIMIT]

    def item_title(self, item) -> str:
        if isinstance(item, status_page.PublicMaintenance):
            return f"Scheduled maintenance: {', '.join(item.services)}"
        return f"INC-{item.incident_id}: {item.incident.title}"

    def item_description(self, item) -> str:
        # Atom's summary is HTML: escape the message so a "<" in it stays text in feed readers.
        if isinstance(item, status_page.PublicMaintenance):
            zone = timezone.get_current_timezone()
            start, end = timezone.localtime(item.start, zone), timezone.localtime(item.end, zone)
            when = f"From {start:%Y-%m-%d %H:%M %Z} until {end:%Y-%m-%d %H:%M %Z}.\n\n"
            return linebreaks(when + item.description, autoescape=True)
        phase = f"{item.phase} — " if item.phase else ""
        return linebreaks(phase + item.message, autoescape=True)

    def item_link(self, item) -> str:
        if isinstance(item, status_page.PublicMaintenance):
            return f"{reverse('status:index')}#{item.anchor}"
        url = reverse("status:incident", kwargs={"ref": f"INC-{item.incident_id}"})
        return f"{url}#update-{item.pk}"

    def item_pubdate(self, item):
        return item.announced_at if isinstance(item, status_page.PublicMaintenance) else item.created_at

    def item_updateddate(self, item):
        return self.item_pubdate(item)


feed = public_page(StatusFeed())
