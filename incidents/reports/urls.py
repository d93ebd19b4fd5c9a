from django.urls import path

from incidents.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.reports, name="index"),
    path("export.csv", views.export_csv, name="export_csv"),
]
