from django.urls import include, path

from incidents import views

app_name = "incidents"

incident_urls = [
    path("", views.detail, name="detail"),
    path("edit/", views.edit, name="edit"),
    path("timeline/", views.timeline, name="timeline"),
    path("note/", views.note, name="note"),
    path("acknowledge/", views.acknowledge, name="acknowledge"),
    path("take/", views.take, name="take"),
    path("lead/", views.lead, name="lead"),
    path("severity/", views.severity, name="severity"),
    path("mitigate/", views.mitigate, name="mitigate"),
    path("resolve/", views.resolve, name="resolve"),
    path("reopen/", views.reopen, name="reopen"),
    path("close/", views.close, name="close"),
]

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.report, name="report"),
    path("<str:ref>/", include(incident_urls)),
]
