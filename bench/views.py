"""The benchmark's references: what Django itself does on this machine, through the same middleware.

`hello` is the floor of a cached page (no query, no template); `rows` is a plain 50-row
template page over the same incidents table, the floor of a list page; `insert` is the floor of
a webhook: a JSON body parsed and stored as one row in its own transaction.
"""

import json

from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from incidents.models import Incident


def hello(request):
    return HttpResponse("hello", content_type="text/plain")


def rows(request):
    incidents = Incident.objects.select_related("service").order_by("-reported_at", "-pk")[:50]
    return render(request, "bench/rows.html", {"incidents": incidents})


@csrf_exempt
def insert(request):
    """One row per request (the table bench/loadtest.py's insert loop fills), as a bare receiver would."""
    body = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_insert_reference (body, at) VALUES (%s, now())", [json.dumps(body)])
    return JsonResponse({"message": "stored"})
