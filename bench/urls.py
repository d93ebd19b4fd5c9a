"""Beacon's URLs plus two reference pages the benchmark compares Beacon's pages with."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/hello/", views.hello),
    path("bench/rows/", views.rows),
    path("", include("incidentsite.urls")),
]
