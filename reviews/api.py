"""Reviews and action items in Beacon's API (/api/, docs/api.md): read them; start a review, edit
its sections, add and change action items, for those the review pages let.

Nothing imports reviews, and reviews may not import the API area, so this module does not mount
itself: ReviewsConfig.ready() registers `build` with the core (incidents/panels.py
register_api_routes), and the API calls it with its kit (incidents/api/common.py KIT: token auth,
JSON errors, cursors, need-to-know) when it builds /api/. Every change goes through
reviews/lifecycle.py, as from the pages.
"""

from datetime import date, datetime
from typing import Literal

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.timezone import localdate
from ninja import Field, Path, Query, Router, Schema, Status

from incidents import roles, workflow
from reviews import lifecycle
from reviews.filters import ActionItemFilter
from reviews.forms import ActionItemForm, ActionItemStateForm, ReviewForm, owner_choices
from reviews.models import SECTION_FIELDS, ActionItem, Review

# An item's id in a path: bounded, so a huge number is a 422 rather than a database error.
ITEM_ID = Path(..., ge=1, le=2**63 - 1)


class ActionItemOut(Schema):
    id: int
    incident: str = Field(description="The reference of the incident whose review committed to it.")
    title: str
    owner: str = Field(description="Username.")
    type: Literal[tuple(ActionItem.Type.values)]
    priority: Literal[tuple(ActionItem.Priority.values)]
    due_date: date
    state: Literal[tuple(ActionItem.State.values)]
    overdue: bool
    wont_do_reason: str
    tracker_url: str
    created_at: datetime
    closed_at: datetime | None

    @staticmethod
    def resolve_incident(item) -> str:
        return item.review.incident.ref

    @staticmethod
    def resolve_owner(item) -> str:
        return item.owner.get_username()

    @staticmethod
    def resolve_overdue(item) -> bool:
        return item.state == ActionItem.State.OPEN and item.due_date < localdate()


class TypeSectionOut(Schema):
    name: str
    title: str
    guidance: str
    text: str


class ReviewOut(Schema):
    """A post-incident review: draft → in review → published."""

    incident: str
    state: Literal[tuple(Review.State.values)]
    version: int = Field(description="Send it back when editing the sections: a stale one is a 409.")
    sections: dict[str, str] = Field(description=f"The written sections by name: {', '.join(SECTION_FIELDS)}.")
    type_sections: list[TypeSectionOut] = Field(description="The sections the incident's type requires.")
    authors: list[str] = Field(description="Usernames of who wrote it.")
    approver: str | None
    submitted_at: datetime | None
    published_at: datetime | None
    public_summary: str
    action_items: list[ActionItemOut]

    @staticmethod
    def resolve_incident(review) -> str:
        return review.incident.ref

    @staticmethod
    def resolve_sections(review) -> dict:
        return {name: getattr(review, name) for name in SECTION_FIELDS}

    @staticmethod
    def resolve_type_sections(review) -> list:
        return review.required_sections()

    @staticmethod
    def resolve_authors(review) -> list[str]:
        return [user.get_username() for user in review.authors.all()]

    @staticmethod
    def resolve_approver(review) -> str | None:
        return review.approver.get_username() if review.approver else None

    @staticmethod
    def resolve_action_items(review) -> list:
        return list(review.action_items.all())


class ReviewConflictOut(Schema):
    detail: str
    current: ReviewOut | None = Field(None, description="The review now; present when `version` was stale.")


def build(kit) -> Router:
    """The reviews' router, made with the API's kit (see the module's docstring)."""
    router = Router(tags=["reviews"])
    Input, Text = kit.Input, kit.Text

    class SectionsIn(Input):
        version: kit.Version = Field(
            ge=1, le=kit.VERSION_MAX, description="The review's `version` as you last read it."
        )
        sections: dict[str, Text] = Field(
            {},
            description=f"Sections to change, by name ({', '.join(SECTION_FIELDS)}); those left out stay as they are.",
        )
        type_sections: dict[str, Text] = Field({}, description="The type's required sections to change, by name.")

    class ActionItemIn(Input):
        title: kit.limited(200) = Field(json_schema_extra={"minLength": 1, "maxLength": 200})
        owner: Text = Field(description="Username of whoever will do it (anyone with a role).")
        type: kit.one_of(ActionItem.Type)
        priority: kit.one_of(ActionItem.Priority) = "medium"
        due_date: kit.Day | None = Field(None, description="Empty: 4 weeks from today for high priority, 8 otherwise.")
        tracker_url: kit.limited(500) = Field(
            "", json_schema_extra={"maxLength": 500}, description="http(s) link, optional."
        )

    class ActionItemChangeIn(Input):
        title: kit.limited(200) | None = Field(None, json_schema_extra={"minLength": 1, "maxLength": 200})
        owner: Text | None = None
        type: kit.one_of(ActionItem.Type) | None = None
        priority: kit.one_of(ActionItem.Priority) | None = None
        due_date: kit.Day | None = None
        tracker_url: kit.limited(500) | None = Field(None, json_schema_extra={"maxLength": 500})

    class ActionStateIn(Input):
        state: kit.one_of(ActionItem.State)
        reason: kit.limited(2000) = Field(
            "", json_schema_extra={"maxLength": 2000}, description="Required for wont_do."
        )

    class ActionFilters(Input):
        owner: Text | None = Field(None, description="An owner's username.")
        state: kit.one_of(ActionItem.State) | None = None
        overdue: kit.QueryBool | None = Field(None, description="true: open items past their due date only.")
        service: Text | None = Field(None, description="A service's slug.")
        type: kit.one_of(ActionItem.Type) | None = None
        priority: kit.one_of(ActionItem.Priority) | None = None
        after: Text | None = Field(None, description="The `cursor` of the previous page.")
        limit: int = Field(50, ge=1, le=200)

    class ActionItemPage(kit.CursorPage):
        items: list[ActionItemOut]

    def review_of(request: HttpRequest, ref: str) -> Review:
        incident = kit.incident_or_404(request, ref)
        review = Review.objects.filter(incident=incident).select_related("approver").first()
        if review is None:
            raise Http404(f"{incident.ref} has no review yet.")
        review.incident = incident
        return review

    def full(review: Review) -> Review:
        """The review with everything ReviewOut shows, in a fixed number of queries."""
        found = (
            Review.objects.select_related("approver", "incident")
            .prefetch_related("authors", "action_items__owner")
            .get(pk=review.pk)
        )
        for item in found.action_items.all():
            item.review = found
        return found

    def items(request: HttpRequest):
        return ActionItem.objects.visible_to(request.auth.user).select_related("owner", "review__incident")

    def owner_error(username: str) -> list[tuple[str, str]]:
        return [("owner", f"There is nobody with a role and the username “{username}”.")]

    def item_form(data: dict, instance=None) -> dict:
        """The review page's action item form validates; owners go by username here."""
        # Usernames in any case, as everywhere in the API.
        owner = owner_choices().filter(username__iexact=(data.get("owner") or "").strip()).first()
        if owner is not None:
            data = {**data, "owner": owner.username}
        form = ActionItemForm(data=data, instance=instance)
        form.fields["owner"].to_field_name = "username"
        if not form.is_valid():
            errors = [e for e in kit.form_errors(form).errors if e[0] != "owner"]
            if "owner" in form.errors:
                errors += owner_error(data["owner"])
            raise kit.FieldErrors(errors)
        return form.cleaned_data

    @router.get(
        "/incidents/{ref}/review",
        auth=kit.TokenAuth(roles.VIEW_REVIEW),
        response={200: ReviewOut, **kit.ERRORS},
        url_name="review",
    )
    def get_review(request: HttpRequest, ref: str):
        """The incident's post-incident review with its action items; 404 when it has none yet."""
        return full(review_of(request, ref))

    @router.post(
        "/incidents/{ref}/review",
        auth=kit.TokenAuth(roles.WRITE_REVIEW, integrations=False),
        response={200: ReviewOut, 201: ReviewOut, 409: kit.Error, **kit.ERRORS},
        url_name="review_start",
    )
    def start_review(request: HttpRequest, ref: str):
        """Start the review of a resolved or closed incident, pre-filled from its timeline (201); if it
        has one already, that one (200). An open incident is a 409."""
        incident = kit.incident_or_404(request, ref)
        existed = Review.objects.filter(incident=incident).exists()
        with workflow.via(workflow.VIA_API):
            review = lifecycle.start(incident, by=request.auth.user)
        return Status(200 if existed else 201, full(review))

    @router.put(
        "/incidents/{ref}/review",
        auth=kit.TokenAuth(roles.WRITE_REVIEW, integrations=False),
        response={200: ReviewOut, 409: ReviewConflictOut, **kit.BODY_ERRORS},
        url_name="review_edit",
    )
    def edit_review(request: HttpRequest, ref: str, payload: SectionsIn):
        """Change sections of a review that is not published. Carries the `version` you read: if
        someone saved it since, 409 with the review as it is now, and nothing changes."""
        review = review_of(request, ref)
        unknown = sorted(set(payload.sections) - set(SECTION_FIELDS))
        wanted = {s["name"] for s in review.required_sections()}
        unknown_type = sorted(set(payload.type_sections) - wanted)
        if unknown or unknown_type:
            raise kit.FieldErrors(
                [(f"sections.{name}", "Not a section of a review.") for name in unknown]
                + [(f"type_sections.{name}", "Not a section this incident's type asks for.") for name in unknown_type]
            )
        # The edit page's form checks the texts; it is given the current text of what is not sent.
        data = {name: payload.sections.get(name, getattr(review, name)) for name in SECTION_FIELDS}
        data["version"] = payload.version
        for section in review.required_sections():
            data[f"type_{section['name']}"] = payload.type_sections.get(section["name"], section["text"])
        form = ReviewForm(data=data, instance=review)
        if not form.is_valid():
            raise kit.form_errors(
                form,
                rename={
                    **{name: f"sections.{name}" for name in SECTION_FIELDS},
                    **{f"type_{name}": f"type_sections.{name}" for name in wanted},
                },
            )
        changes = {name: form.cleaned_data[name] for name in SECTION_FIELDS if name in payload.sections}
        if payload.type_sections:
            changes["type_sections"] = {name: form.type_sections()[name] for name in payload.type_sections}
        try:
            with workflow.via(workflow.VIA_API):
                lifecycle.edit(review, by=request.auth.user, version=payload.version, changes=changes)
        except workflow.Conflict as conflict:
            return Status(409, {"detail": str(conflict), "current": full(conflict.current)})
        return full(review)

    # --- action items --------------------------------------------------------------------

    @router.get(
        "/action-items",
        auth=kit.TokenAuth(roles.VIEW_ACTIONITEM),
        response={200: ActionItemPage, **kit.ERRORS},
        url_name="action_items",
    )
    def list_action_items(request: HttpRequest, filters: Query[ActionFilters]):
        """Action items across reviews, oldest first, filtered as on the action item list."""
        kit.unknown_parameters(request, ActionFilters.model_fields)
        data = {
            "owner": filters.owner or "",
            "state": filters.state or "",
            "service": filters.service or "",
            "type": filters.type or "",
            "priority": filters.priority or "",
        }
        if filters.overdue:
            data["overdue"] = True
        filterset = ActionItemFilter(data, queryset=items(request))
        if not filterset.is_valid():
            unknown = {
                "owner": "Nobody with this username owns an action item.",
                "service": "There is no service with this slug.",
            }
            errors = kit.form_errors(filterset.form).errors
            raise kit.FieldErrors([(field, unknown.get(field, message)) for field, message in errors])
        found, page = kit.page_after(request, filterset.qs, after=filters.after, limit=filters.limit)
        return {"items": found, **page}

    @router.post(
        "/incidents/{ref}/review/action-items",
        auth=kit.TokenAuth(roles.WRITE_REVIEW, integrations=False),
        response={201: ActionItemOut, 409: kit.Error, **kit.BODY_ERRORS},
        url_name="action_item_add",
    )
    def add_action_item(request: HttpRequest, ref: str, payload: ActionItemIn):
        """Add an action item to a review that is not published; its owner is told."""
        review = review_of(request, ref)
        data = item_form(payload.model_dump(mode="json") | {"due_date": payload.due_date or ""})
        with workflow.via(workflow.VIA_API):
            item = lifecycle.add_action_item(review, by=request.auth.user, **data)
        return Status(201, items(request).get(pk=item.pk))

    def item_or_404(request: HttpRequest, item_id: int) -> ActionItem:
        item = items(request).filter(pk=item_id).first()
        if item is None:
            raise Http404(f"There is no action item {item_id}.")
        return item

    @router.patch(
        "/action-items/{item_id}",
        auth=kit.TokenAuth(roles.WRITE_REVIEW, integrations=False),
        response={200: ActionItemOut, **kit.BODY_ERRORS},
        url_name="action_item",
    )
    def change_action_item(request: HttpRequest, payload: ActionItemChangeIn, item_id: int = ITEM_ID):
        """Change an item's title, owner, type, priority, due date or tracker link; fields left out
        stay. A new owner is told."""
        item = item_or_404(request, item_id)
        given = payload.model_dump(mode="json", exclude_unset=True)
        nulls = [name for name, value in given.items() if value is None and name != "due_date"]
        if nulls:
            raise kit.FieldErrors([(name, "Leave it out to keep it; it cannot be null.") for name in nulls])
        current = {
            "title": item.title,
            "owner": item.owner.get_username(),
            "type": item.type,
            "priority": item.priority,
            "due_date": item.due_date.isoformat(),
            "tracker_url": item.tracker_url,
        }
        data = item_form({**current, **{k: ("" if v is None else v) for k, v in given.items()}}, instance=item)
        lifecycle.edit_action_item(item, by=request.auth.user, **data)
        return items(request).get(pk=item.pk)

    @router.post(
        "/action-items/{item_id}/state",
        auth=kit.TokenAuth(roles.VIEW_ACTIONITEM, integrations=False),
        response={200: ActionItemOut, 409: kit.Error, **kit.BODY_ERRORS},
        url_name="action_item_state",
    )
    def set_action_item_state(request: HttpRequest, payload: ActionStateIn, item_id: int = ITEM_ID):
        """Mark an item done, won't do (with a reason) or open again: its owner, or someone who writes reviews."""
        item = item_or_404(request, item_id)
        if not lifecycle.may_change_item(request.auth.user, item):
            raise PermissionDenied("Only the item's owner, or someone who writes reviews, may change its state.")
        form = ActionItemStateForm(data={"state": payload.state, "reason": payload.reason})
        if not form.is_valid():
            raise kit.form_errors(form)
        lifecycle.set_action_item_state(item, by=request.auth.user, **form.cleaned_data)
        return items(request).get(pk=item.pk)

    return router
