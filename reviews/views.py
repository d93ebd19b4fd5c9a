"""Review, action item and runbook pages. Each view: access, form, lifecycle call, redirect."""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.timezone import localdate, now
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import budget, links, roles
from incidents.access import get_incident_for, role_required
from incidents.models import Service
from incidents.pagination import paginate
from incidents.workflow import Conflict, InvalidTransition
from reviews import export, lifecycle, policy, prefill, search, similar
from reviews.filters import ActionItemFilter, ReviewFilter
from reviews.forms import (
    ActionItemForm,
    ActionItemStateForm,
    PublicSummaryForm,
    ReasonForm,
    ReviewForm,
    RunbookForm,
)
from reviews.models import ActionItem, Review

VIEW = roles.VIEW_REVIEW
WRITE = lifecycle.WRITE
PUBLISH = lifecycle.PUBLISH
EDIT_RUNBOOK = lifecycle.EDIT_RUNBOOK

# Runbook revisions listed on a runbook page before "older revisions are in the admin".
REVISIONS_SHOWN = 50


def get_review_for(request: HttpRequest, ref: str) -> Review:
    """The review of incident `ref`, if this user may see reviews and it exists; else 403/404."""
    if not request.user.has_perm(VIEW):
        raise PermissionDenied
    incident = get_incident_for(request, ref)
    review = Review.objects.filter(incident=incident).select_related("approver").first()
    if review is None:
        raise Http404(f"{incident.ref} has no review yet")
    review.incident = incident
    return review


def _act(request: HttpRequest, review: Review, action: Callable[[], object], done: str) -> HttpResponse:
    try:
        action()
    except InvalidTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, done)
    return redirect(review)


# --- lists -----------------------------------------------------------------------------


@role_required(VIEW)
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    """All reviews, searchable across their text (full-text on PostgreSQL)."""
    query = request.GET.get("q", "")[:200]
    reviews = ReviewFilter(request.GET, queryset=Review.objects.visible_to(request.user).for_list(), request=request)
    found = search.search(reviews.qs.order_by("-created_at", "-pk"), query).annotate(
        open_items=Count("action_items", filter=Q(action_items__state=ActionItem.State.OPEN))
    )
    context = {"filter": reviews, "q": query, **paginate(request, found, settings.REVIEWS_PER_PAGE)}
    return render(request, "reviews/list.html", context)


@role_required(VIEW)
@require_GET
def action_list(request: HttpRequest) -> HttpResponse:
    """Every action item across reviews; overdue ones stand out."""
    items = ActionItemFilter(
        request.GET,
        queryset=ActionItem.objects.visible_to(request.user).for_list().order_by("state", "due_date", "pk"),
        request=request,
    )
    context = {"filter": items, "today": localdate(), **paginate(request, items.qs, settings.REVIEWS_PER_PAGE * 2)}
    return render(request, "reviews/actions.html", context)


# --- one review ------------------------------------------------------------------------


def _detail_context(request: HttpRequest, review: Review, **forms) -> dict:
    user = request.user
    incident = review.incident
    items = list(review.action_items.select_related("owner").order_by("due_date", "pk"))
    for item in items:
        item.may_change = lifecycle.may_change_item(user, item)
    required_sections = review.required_sections()
    return {
        "review": review,
        "incident": incident,
        "required_sections": required_sections,
        "empty_required": [s["title"] for s in required_sections if not s["text"].strip()],
        "times": prefill.key_times(incident),
        "budget_burn": budget.incident_burn(incident, now()),
        "authors": list(review.authors.order_by("first_name", "username")),
        "action_items": items,
        "revisions": list(review.runbook_revisions.select_related("service", "author")),
        # Incidents that belong with this one (caused by, same root cause): the review reads them together.
        "related": links.visible_links(incident, user),
        "may_write": lifecycle.may_edit(user, review),
        "may_publish": user.has_perm(PUBLISH),
        "required": policy.review_required(incident),
        "item_form": forms.get("item_form") or ActionItemForm(),
        "return_form": forms.get("return_form") or ReasonForm(),
        "public_form": forms.get("public_form") or PublicSummaryForm(initial={"text": review.public_summary}),
        "may_write_items": user.has_perm(WRITE),
    }


def _form_errors(request: HttpRequest, review: Review, name: str, form) -> HttpResponse:
    """The review page again with `form` (one of its `<name>_form`s) showing its errors, opened."""
    context = _detail_context(request, review, **{f"{name}_form": form}) | {"open_form": name}
    return render(request, "reviews/detail.html", context, status=422)


@role_required(VIEW)
@require_GET
def similar_incidents(request: HttpRequest, ref: str) -> HttpResponse:
    """What fixed it last time: past incidents like this one, best first (reviews/similar.py).
    The incident page loads it with htmx when the panel scrolls into view; a page without."""
    incident = get_incident_for(request, ref)
    context = {"incident": incident, "panel": {"incidents": similar.similar_incidents(incident, request.user)}}
    template = "reviews/_similar_list.html" if request.htmx else "reviews/similar.html"
    return render(request, template, context)


@role_required(VIEW)
@require_GET
def detail(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    return render(request, "reviews/detail.html", _detail_context(request, review))


@role_required(WRITE)
@require_POST
def start(request: HttpRequest, ref: str) -> HttpResponse:
    incident = get_incident_for(request, ref)
    try:
        lifecycle.start(incident, by=request.user)
    except InvalidTransition as refusal:
        messages.error(request, str(refusal))
        return redirect(incident)
    return redirect("reviews:edit", ref=incident.ref)


@role_required(WRITE)
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    if not review.is_editable:
        messages.error(request, f"The review of {review.incident.ref} is published and read-only.")
        return redirect(review)
    form = ReviewForm(request.POST or None, instance=review)
    if request.method == "POST" and form.is_valid():
        changes = {field: form.cleaned_data[field] for field in form.Meta.fields}
        if form.required_sections:
            changes["type_sections"] = form.type_sections()
        try:
            lifecycle.edit(review, by=request.user, version=form.cleaned_data["version"], changes=changes)
        except Conflict as conflict:
            fresh = conflict.current  # the review as lifecycle.edit read it under its lock
            messages.error(request, str(conflict))
            submitted = {k: v for k, v in changes.items() if k != "type_sections"}
            submitted.update({s["title"]: form.type_sections()[s["name"]] for s in form.required_sections})
            context = {"form": ReviewForm(instance=fresh), "review": fresh, "submitted": submitted}
            return render(request, "reviews/edit.html", context, status=409)
        except InvalidTransition as refusal:
            messages.error(request, str(refusal))
            return redirect(review)
        messages.success(request, "Review saved.")
        return redirect(review)
    status = 422 if form.is_bound else 200
    return render(request, "reviews/edit.html", {"form": form, "review": review}, status=status)


@role_required(WRITE)
@require_POST
def submit(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    return _act(request, review, lambda: lifecycle.submit(review, by=request.user), "Review submitted for approval.")


@role_required(PUBLISH)
@require_POST
def publish(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    return _act(request, review, lambda: lifecycle.publish(review, by=request.user), "Review published.")


@role_required(PUBLISH)
@require_POST
def return_to_draft(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _form_errors(request, review, "return", form)
    return _act(
        request,
        review,
        lambda: lifecycle.return_to_draft(review, by=request.user, reason=form.cleaned_data["reason"]),
        "Review returned to draft.",
    )


@role_required(PUBLISH)
@require_POST
def public_summary(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    form = PublicSummaryForm(request.POST)
    if not form.is_valid():
        return _form_errors(request, review, "public", form)
    text = form.cleaned_data["text"]
    return _act(
        request,
        review,
        lambda: lifecycle.set_public_summary(review, by=request.user, text=text),
        "Public summary published." if text.strip() else "Public summary withdrawn.",
    )


@role_required(VIEW)
@require_GET
def markdown(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    response = HttpResponse(export.as_markdown(review), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename(review)}"'
    return response


# --- action items ----------------------------------------------------------------------


@role_required(WRITE)
@require_POST
def action_add(request: HttpRequest, ref: str) -> HttpResponse:
    review = get_review_for(request, ref)
    form = ActionItemForm(request.POST)
    if not form.is_valid():
        return _form_errors(request, review, "item", form)
    return _act(
        request,
        review,
        lambda: lifecycle.add_action_item(review, by=request.user, **form.cleaned_data),
        "Action item added.",
    )


@role_required(WRITE)
@require_http_methods(["GET", "POST"])
def action_edit(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ActionItem.objects.visible_to(request.user).for_list(), pk=pk)
    form = ActionItemForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        lifecycle.edit_action_item(item, by=request.user, **form.cleaned_data)
        messages.success(request, "Action item saved.")
        return redirect(item.review)
    status = 422 if form.is_bound else 200
    return render(request, "reviews/action_edit.html", {"form": form, "item": item}, status=status)


@role_required(VIEW)
@require_POST
def action_state(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark an item done, won't do (with a reason) or open again: its owner or an author."""
    item = get_object_or_404(ActionItem.objects.visible_to(request.user).for_list(), pk=pk)
    if not lifecycle.may_change_item(request.user, item):
        raise PermissionDenied
    form = ActionItemStateForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        messages.error(request, f"“{item.title}” was not changed: {errors}")
        return redirect(item.review)
    try:
        lifecycle.set_action_item_state(
            item, by=request.user, state=form.cleaned_data["state"], reason=form.cleaned_data["reason"]
        )
    except InvalidTransition as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"“{item.title}” is {ActionItem.State(form.cleaned_data['state']).label.lower()}.")
    return redirect(item.review)


# --- runbooks --------------------------------------------------------------------------


@role_required(VIEW)
@require_GET
def runbook(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    revisions = list(service.runbook_revisions.select_related("author", "review__incident")[:REVISIONS_SHOWN])
    # A revision made because of a review the reader may not see names no review (need-to-know).
    visible = set(
        Review.objects.visible_to(request.user)
        .filter(pk__in={r.review_id for r in revisions if r.review_id})
        .values_list("pk", flat=True)
    )
    for revision in revisions:
        if revision.review_id not in visible:
            revision.review = None
    return render(
        request,
        "reviews/runbook.html",
        {"service": service, "revisions": revisions, "may_edit": request.user.has_perm(EDIT_RUNBOOK)},
    )


@role_required(EDIT_RUNBOOK)
@require_http_methods(["GET", "POST"])
def runbook_edit(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    initial = {"text": service.runbook, "base_revision": lifecycle.latest_revision_id(service)}
    if "review" in request.GET:
        initial["review"] = request.GET["review"][:30]
    form = RunbookForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lifecycle.save_runbook(
                service,
                by=request.user,
                text=data["text"],
                base_revision=data["base_revision"],
                comment=data["comment"],
                review=data["review"],
            )
        except Conflict as conflict:
            service = conflict.current  # the service as lifecycle.save_runbook read it under its lock
            messages.error(request, str(conflict))
            fresh = RunbookForm(
                initial={
                    "text": service.runbook,
                    "base_revision": lifecycle.latest_revision_id(service),
                    "comment": data["comment"],
                    "review": request.POST.get("review", ""),
                }
            )
            context = {"form": fresh, "service": service, "submitted": data["text"]}
            return render(request, "reviews/runbook_edit.html", context, status=409)
        except InvalidTransition as refusal:
            form.add_error("text", str(refusal))
        else:
            messages.success(request, f"Runbook of {service.name} saved.")
            return redirect("reviews:runbook", slug=service.slug)
    status = 422 if form.is_bound else 200
    return render(request, "reviews/runbook_edit.html", {"form": form, "service": service}, status=status)
