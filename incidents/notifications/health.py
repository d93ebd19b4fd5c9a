"""Channels that cannot deliver (ChannelProblem rows, written and cleared by delivery.py):
the banner managers see on the dashboard and the service page, and the one email each gets
when a destination breaks (sent by the sweeper, every minute, `tell_managers`).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q
from django.utils.timezone import now

from incidents import roles
from incidents.models import ChannelProblem
from incidents.notifications import outbox


def managers():
    """Everyone who may see deliveries (the Manager role), active, with an address."""
    perm = Permission.objects.filter(
        content_type__app_label="incidents", codename=roles.codename(roles.VIEW_NOTIFICATION)
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(is_superuser=True) | Q(groups__permissions__in=perm) | Q(user_permissions__in=perm))
        .select_related("profile")
        .distinct()
    )


def tell_managers() -> int:
    """Email every manager once about each destination that broke since the last call."""
    told = 0
    for problem in ChannelProblem.objects.filter(told_at__isnull=True).select_related("service"):
        with transaction.atomic():
            # The row may have been cleared meanwhile: then there is nothing to say.
            if not ChannelProblem.objects.filter(pk=problem.pk, told_at__isnull=True).update(told_at=now()):
                continue
            for user in managers():
                outbox.queue_direct(
                    event_key=f"channel-broken:{problem.pk}:{problem.since.timestamp():.0f}",
                    user=user,
                    subject=f"Beacon cannot deliver: {problem.label}",
                    template="notifications/channel_broken.txt",
                    context={"problem": problem},
                )
                told += 1
    return told


def banner_context(user, service=None) -> dict:
    """For a page's banner: the problems a manager should fix (none for anybody else). One query."""
    if not user.has_perm(roles.VIEW_NOTIFICATION):
        return {"channel_problems": []}
    problems = ChannelProblem.objects.select_related("service").order_by("since")
    if service is not None:
        problems = problems.filter(Q(service=service) | Q(service__isnull=True))
    return {"channel_problems": list(problems)}
