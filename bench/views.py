"""The benchmark's references: what Django itself does on this machine, through the same middleware.

`hello` is the floor of a cached page (no query, no template); `rows` is a plain 50-row
template page over the same incidents table, the floor of a list page.
"""

from django.http import HttpResponse
from django.shortcuts import render

from incidents.models import Incident


def hello(request):
    return HttpResponse("hello", content_type="text/plain")


def rows(request):
    incidents = Incident.objects.select_related("service").order_by("-reported_at", "-pk")[:50]
    return render(request, "bench/rows.html", {"incidents": incidents})
