from django.urls import path

from incidents.oncall import views as oncall_views

app_name = "oncall"

urlpatterns = [
    path("", oncall_views.index, name="index"),
    path("rotations/new/", oncall_views.rotation_new, name="rotation_new"),
    path("rotations/<int:pk>/edit/", oncall_views.rotation_edit, name="rotation_edit"),
    path("rotations/<int:pk>/overrides/new/", oncall_views.override_new, name="override_new"),
    path("overrides/<int:pk>/delete/", oncall_views.override_delete, name="override_delete"),
    path("load/", oncall_views.load_report, name="load"),
    path("load.csv", oncall_views.load_csv, name="load_csv"),
    path("policies/", oncall_views.policy_list, name="policy_list"),
    path("policies/new/", oncall_views.policy_new, name="policy_new"),
    path("policies/<int:pk>/", oncall_views.policy_detail, name="policy_detail"),
    path("policies/<int:pk>/edit/", oncall_views.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", oncall_views.policy_delete, name="policy_delete"),
    path("calendar/token/", oncall_views.calendar_token, name="calendar_token"),
    path("calendar/<str:token>.ics", oncall_views.calendar_feed, name="calendar_feed"),
]
