from django.urls import include, path

from incidents import response_views, user_report_views, views
from incidents.notifications import views as notification_views
from incidents.reports import exports

app_name = "incidents"

incident_urls = [
    path("", views.detail, name="detail"),
    path("edit/", views.edit, name="edit"),
    path("timeline/", views.timeline, name="timeline"),
    path("export.json", exports.incident_json, name="export_json"),
    path("export.md", exports.incident_markdown, name="export_md"),
    path("note/", views.note, name="note"),
    path("acknowledge/", views.acknowledge, name="acknowledge"),
    path("take/", views.take, name="take"),
    path("lead/", views.lead, name="lead"),
    path("severity/", views.severity, name="severity"),
    path("mitigate/", views.mitigate, name="mitigate"),
    path("impact/", views.impact, name="impact"),
    path("resolve/", views.resolve, name="resolve"),
    path("reopen/", views.reopen, name="reopen"),
    path("reactivate/", views.reactivate, name="reactivate"),
    path("close/", views.close, name="close"),
    path("update/", views.post_update, name="update"),
    path("update/audience/", notification_views.update_audience, name="update_audience"),
    path("visibility/", views.set_visibility, name="visibility"),
    path("restrict/", views.restrict, name="restrict"),
    path("unrestrict/", views.lift_restriction, name="unrestrict"),
    path("participants/", views.participants, name="participants"),
    path("links/", views.add_link, name="links"),
    path("duplicate/", views.mark_duplicate, name="duplicate"),
    path("duplicate/undo/", views.undo_duplicate, name="undo_duplicate"),
    path("links/<int:link>/remove/", views.remove_link, name="remove_link"),
    path("roles/", response_views.assign_role, name="roles"),
    path("tasks/", response_views.add_task, name="tasks"),
    path("tasks/<int:task>/", response_views.change_task, name="task"),
    path("follow/", notification_views.follow_incident, name="follow"),
    path("unfollow/", notification_views.unfollow_incident, name="unfollow"),
]

service_urls = [
    path("follow/", notification_views.follow_service, name="follow_service"),
    path("unfollow/", notification_views.unfollow_service, name="unfollow_service"),
    path("stakeholders/", notification_views.stakeholders, name="stakeholders"),
    path("stakeholders/<int:pk>/remove/", notification_views.stakeholder_remove, name="stakeholder_remove"),
]

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.report, name="report"),
    path("new/matches/", views.report_matches, name="report_matches"),
    path("user-reports/", user_report_views.triage, name="user_reports"),
    path("export.csv", exports.list_csv, name="export_csv"),
    path("export.json", exports.list_json, name="export_json"),
    path("services/<slug:slug>/", include(service_urls)),
    path("<str:ref>/", include(incident_urls)),
]
