from django.urls import path

from incidents.statuspage import views as status_views

app_name = "status"

urlpatterns = [
    path("", status_views.index, name="index"),
    path("incidents/<str:ref>/", status_views.incident, name="incident"),
    path("feed.atom", status_views.feed, name="feed"),
]
