"""The learning loop on /reports/ (registered with incidents.panels.register_report_section): are
reviews published on time, are action items done by their due dates. Need-to-know as everywhere:
only reviews and items of incidents the user may see count. Two queries."""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone

from incidents.access import incident_condition, visible_incidents
from reviews.models import ActionItem, Review


def learning_loop(request, start, end) -> dict:
    """Reviews of incidents resolved in [start, end) that must have one (REVIEW_REQUIRED_SEVERITIES),
    due REVIEW_DUE_DAYS after the resolution; action items created in [start, end) per priority."""
    moment = timezone.now()
    today = timezone.localdate(moment)
    due = timedelta(days=settings.REVIEW_DUE_DAYS)
    published = Q(review__state=Review.State.PUBLISHED)
    in_time = Q(review__published_at__lte=F("resolved_at") + due)
    reviews = (
        visible_incidents(request.user)
        .filter(severity__in=settings.REVIEW_REQUIRED_SEVERITIES, resolved_at__gte=start, resolved_at__lt=end)
        .aggregate(
            required=Count("pk"),
            due=Count("pk", filter=Q(resolved_at__lte=moment - due)),
            on_time=Count("pk", filter=published & in_time),
            late=Count("pk", filter=published & ~in_time),
            overdue=Count("pk", filter=Q(resolved_at__lte=moment - due) & ~published),
        )
    )
    items = (
        ActionItem.objects.filter(incident_condition(request.user, "review__incident__"))
        .filter(created_at__gte=start, created_at__lt=end)
        .values("priority")
        .order_by()
        .annotate(
            open=Count("pk", filter=Q(state=ActionItem.State.OPEN, due_date__gte=today)),
            overdue=Count("pk", filter=Q(state=ActionItem.State.OPEN, due_date__lt=today)),
            done=Count("pk", filter=Q(state=ActionItem.State.DONE)),
            done_late=Count("pk", filter=Q(state=ActionItem.State.DONE, closed_at__date__gt=F("due_date"))),
            wont_do=Count("pk", filter=Q(state=ActionItem.State.WONT_DO)),
        )
    )
    by_priority = {row["priority"]: row for row in items}
    actions = reverse("reviews:actions")
    rows = []
    for priority, label in ActionItem.Priority.choices:
        found = by_priority.get(priority, {})
        rows.append(
            {
                "label": label,
                "open": found.get("open", 0),
                "overdue": found.get("overdue", 0),
                "done": found.get("done", 0),
                "done_late": found.get("done_late", 0),
                "wont_do": found.get("wont_do", 0),
                "open_href": f"{actions}?{urlencode({'priority': priority, 'state': 'open'})}",
                "overdue_href": f"{actions}?{urlencode({'priority': priority, 'overdue': 'true'})}",
                "done_href": f"{actions}?{urlencode({'priority': priority, 'state': 'done'})}",
            }
        )
    return {"reviews": reviews, "items": rows, "due_days": settings.REVIEW_DUE_DAYS}
