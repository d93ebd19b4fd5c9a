from django.urls import path

from incidents.notifications import subscribe_views

app_name = "subscribe"

urlpatterns = [
    path("", subscribe_views.subscribe, name="index"),
    path("sent/", subscribe_views.sent, name="sent"),
    path("confirm/<str:token>/", subscribe_views.confirm, name="confirm"),
]
