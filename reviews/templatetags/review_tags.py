"""Presentation of reviews and action items."""

from django import template

from incidents import roles
from reviews.models import ActionItem, Review

register = template.Library()

STATE_CLASSES = {
    Review.State.DRAFT: "text-bg-secondary",
    Review.State.IN_REVIEW: "text-bg-warning",
    Review.State.PUBLISHED: "text-bg-success",
}
ITEM_STATE_CLASSES = {
    ActionItem.State.OPEN: "text-bg-primary",
    ActionItem.State.DONE: "text-bg-success",
    ActionItem.State.WONT_DO: "text-bg-light border",
}

# "My action items" on the dashboard shows this many before linking to the full list.
MY_ITEMS_LIMIT = 10


@register.filter
def review_state_class(state: str) -> str:
    return STATE_CLASSES.get(state, "text-bg-secondary")


@register.filter
def item_state_class(state: str) -> str:
    return ITEM_STATE_CLASSES.get(state, "text-bg-secondary")


def my_action_items(user, limit: int = MY_ITEMS_LIMIT) -> list[ActionItem]:
    """The user's open action items, overdue (earliest due) first. One query, of the few columns
    the card shows: not the long texts of their reviews and incidents (up to 50,000 characters a
    section, once most of the dashboard's time for someone with many items), nor anything else
    whose columns the query would have to be built with on every dashboard refresh."""
    items = (
        ActionItem.objects.visible_to(user)
        .open()
        .filter(owner=user)
        .select_related("review__incident")
        .only("title", "due_date", "state", "review__incident__id")
    )
    return list(items.order_by("due_date", "pk")[:limit])


@register.inclusion_tag("reviews/_my_action_items.html", takes_context=True)
def my_action_items_card(context) -> dict:
    """`{% load review_tags %}{% my_action_items_card %}`: the dashboard's "My action items" card."""
    user = context["request"].user
    if not user.has_perm(roles.VIEW_REVIEW):
        return {"show": False}
    return {"show": True, "items": my_action_items(user), "user": user}
