from django.urls import path

from incidents import user_report_views

app_name = "user_report"

urlpatterns = [
    path("", user_report_views.report_problem, name="index"),
    path("thanks/", user_report_views.thanks, name="thanks"),
    path("confirm/<str:token>/", user_report_views.confirm, name="confirm"),
]
