from django.urls import path

from incidents import team_views

app_name = "teams"

urlpatterns = [
    path("", team_views.team_list, name="list"),
    path("new/", team_views.team_create, name="create"),
    path("<slug:slug>/", team_views.team_detail, name="detail"),
    path("<slug:slug>/members/", team_views.member_add, name="member_add"),
    path("<slug:slug>/members/<int:user_id>/remove/", team_views.member_remove, name="member_remove"),
]
