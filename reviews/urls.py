from django.urls import include, path

from reviews import views

app_name = "reviews"

review_urls = [
    path("", views.detail, name="detail"),
    path("start/", views.start, name="start"),
    path("edit/", views.edit, name="edit"),
    path("submit/", views.submit, name="submit"),
    path("publish/", views.publish, name="publish"),
    path("return/", views.return_to_draft, name="return_to_draft"),
    path("public-summary/", views.public_summary, name="public_summary"),
    path("markdown/", views.markdown, name="markdown"),
    path("actions/add/", views.action_add, name="action_add"),
    path("similar/", views.similar_incidents, name="similar"),
]

urlpatterns = [
    path("", views.review_list, name="list"),
    path("actions/", views.action_list, name="actions"),
    path("actions/<int:pk>/edit/", views.action_edit, name="action_edit"),
    path("actions/<int:pk>/state/", views.action_state, name="action_state"),
    path("runbooks/<slug:slug>/", views.runbook, name="runbook"),
    path("runbooks/<slug:slug>/edit/", views.runbook_edit, name="runbook_edit"),
    path("<str:ref>/", include(review_urls)),
]
