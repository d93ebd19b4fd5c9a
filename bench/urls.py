"""Beacon's URLs plus the reference pages the benchmark compares Beacon's pages with."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/hello/", views.hello),
    path("bench/rows/", views.rows),
    path("bench/insert/", views.insert),
    path("", include("incidentsite.urls")),
]
