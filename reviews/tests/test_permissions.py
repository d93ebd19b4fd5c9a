"""The role matrix for every reviews URL, each walked with the review in the state the action needs.

(The shared matrix in incidents/tests/test_permissions.py lists the same URLs against an
incident that has no review; here each one meets data on which it can succeed.)
"""

import pytest
from django.urls import get_resolver

from reviews.models import SECTION_FIELDS, Review
from reviews.tests.factories import make_item, make_review, resolved_incident

ROLES = ["anonymous", "nobody", "reporter", "responder", "manager", "viewer"]
LOGIN = "login"


def expect(anonymous, nobody, reporter, responder, manager, viewer):
    return dict(zip(ROLES, [anonymous, nobody, reporter, responder, manager, viewer], strict=True))


READ = expect(LOGIN, 403, 200, 200, 200, 200)
WRITE_PAGE = expect(LOGIN, 403, 403, 200, 200, 403)
WRITE_POST = expect(LOGIN, 403, 403, 302, 302, 403)
PUBLISH_POST = expect(LOGIN, 403, 403, 403, 302, 403)
ADMIN = expect(LOGIN, 403, 403, 403, 200, 403)

# (method, url, review state needed (None: resolved incident without a review), expected, post data)
MATRIX = [
    ("get", "/reviews/", "draft", READ, None),
    ("get", "/reviews/?q=pool&state=draft", "draft", READ, None),
    ("get", "/reviews/actions/", "draft", READ, None),
    ("get", "/reviews/actions/?overdue=on&owner=rob", "draft", READ, None),
    ("get", "/reviews/actions/{item}/edit/", "draft", WRITE_PAGE, None),
    ("post", "/reviews/actions/{item}/edit/", "draft", WRITE_POST, "item"),
    ("post", "/reviews/actions/{item}/state/", "draft", WRITE_POST, {"state": "done"}),
    ("get", "/reviews/runbooks/{slug}/", "draft", READ, None),
    ("get", "/reviews/runbooks/{slug}/edit/", "draft", WRITE_PAGE, None),
    ("post", "/reviews/runbooks/{slug}/edit/", "draft", WRITE_POST, {"text": "Restart it.", "base_revision": 0}),
    ("get", "/reviews/{ref}/", "draft", READ, None),
    ("get", "/reviews/{ref}/markdown/", "published", READ, None),
    # What fixed it last time: for everyone who sees the incident (reviews/similar.py).
    ("get", "/reviews/{ref}/similar/", None, READ, None),
    ("post", "/reviews/{ref}/start/", None, WRITE_POST, {}),
    ("get", "/reviews/{ref}/edit/", "draft", WRITE_PAGE, None),
    ("post", "/reviews/{ref}/edit/", "draft", WRITE_POST, "review"),
    ("post", "/reviews/{ref}/submit/", "draft", WRITE_POST, {}),
    ("post", "/reviews/{ref}/publish/", "in_review", PUBLISH_POST, {}),
    ("post", "/reviews/{ref}/return/", "published", PUBLISH_POST, {"reason": "Redo."}),
    ("post", "/reviews/{ref}/public-summary/", "published", PUBLISH_POST, {"text": "Sorry."}),
    ("post", "/reviews/{ref}/actions/add/", "draft", WRITE_POST, "new_item"),
    ("get", "/admin/reviews/review/", "draft", ADMIN, None),
    ("get", "/admin/reviews/review/?state__exact=draft&overdue=yes", "draft", ADMIN, None),
    ("get", "/admin/reviews/review/{review}/change/", "draft", ADMIN, None),
    ("get", "/admin/reviews/actionitem/?overdue=yes", "draft", ADMIN, None),
    ("get", "/admin/reviews/actionitem/{item}/change/", "draft", ADMIN, None),
    ("get", "/admin/reviews/runbookrevision/", "draft", ADMIN, None),
]

# What each allowed POST must have changed (proves the 302 is success, not a refusal).
EFFECTS = {
    "/reviews/actions/{item}/edit/": lambda review, item: item.title == "Renamed",
    "/reviews/actions/{item}/state/": lambda review, item: item.state == "done",
    "/reviews/runbooks/{slug}/edit/": lambda review, item: review.incident.service.runbook_revisions.count() == 1,
    "/reviews/{ref}/start/": lambda review, item: Review.objects.count() == 1,
    "/reviews/{ref}/edit/": lambda review, item: review.lessons_learned == "Matrix lesson",
    "/reviews/{ref}/submit/": lambda review, item: review.state == "in_review",
    "/reviews/{ref}/publish/": lambda review, item: review.state == "published",
    "/reviews/{ref}/return/": lambda review, item: review.state == "draft",
    "/reviews/{ref}/public-summary/": lambda review, item: review.public_summary == "Sorry.",
    "/reviews/{ref}/actions/add/": lambda review, item: review.action_items.count() == 2,
}


def _data(kind, review, item, responder):
    if kind == "review":
        data = {name: getattr(review, name) for name in SECTION_FIELDS}
        return data | {"version": review.version, "lessons_learned": "Matrix lesson"}
    if kind == "item":
        return {"title": "Renamed", "owner": responder.pk, "type": "corrective", "priority": "low", "due_date": ""}
    if kind == "new_item":
        return {"title": "Another", "owner": responder.pk, "type": "detective", "priority": "high"}
    return kind or {}


@pytest.mark.parametrize("method, template, state, expected, data", MATRIX, ids=[f"{m} {u}" for m, u, *_ in MATRIX])
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(role, method, template, state, expected, data, clients, reporter, responder, manager):
    incident = resolved_incident(by=reporter, responder=responder)
    review = item = None
    if state is not None:
        review = make_review(responder=responder, manager=manager, incident=incident, state=Review.State.DRAFT)
        item = make_item(review, by=responder, owner=responder)
        review = make_review(responder=responder, manager=manager, incident=incident, state=state)
    url = template.format(
        ref=incident.ref, slug=incident.service.slug, item=item.pk if item else 0, review=review.pk if review else 0
    )
    response = getattr(clients[role], method)(url, _data(data, review, item, responder) if method == "post" else None)

    want = expected[role]
    if want == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        return
    assert response.status_code == want, (role, url, response.status_code)
    if method == "post" and want == 302:
        assert not response["Location"].startswith("/accounts/login/")
        fresh_review = Review.objects.filter(incident=incident).first()
        fresh_item = type(item).objects.get(pk=item.pk) if item else None
        assert EFFECTS[template](fresh_review, fresh_item), (role, url)


def test_every_reviews_url_is_in_the_matrix():
    covered = {template.split("?")[0] for _, template, *_ in MATRIX}
    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "reviews/":
            for p in pattern.url_patterns:
                if hasattr(p, "url_patterns"):
                    routes |= {"/reviews/" + str(p.pattern) + str(sub.pattern) for sub in p.url_patterns}
                else:
                    routes.add("/reviews/" + str(p.pattern))
    normalised = {
        r.replace("<str:ref>", "{ref}").replace("<int:pk>", "{item}").replace("<slug:slug>", "{slug}") for r in routes
    }
    assert normalised and not normalised - covered, sorted(normalised - covered)
