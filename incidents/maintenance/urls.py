from django.urls import path

from incidents.maintenance import views

app_name = "maintenance"

urlpatterns = [
    path("", views.index, name="index"),
    path("windows/", views.window_new, name="window_new"),
    path("windows/<int:pk>/cancel/", views.window_cancel, name="window_cancel"),
    path("silences/", views.silence_new, name="silence_new"),
    path("silences/<int:pk>/cancel/", views.silence_cancel, name="silence_cancel"),
    path("silences/incident/<str:ref>/", views.silence_group, name="silence_group"),
]
