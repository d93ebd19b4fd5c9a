"""seed_demo fills the reports with a year of history, so a newcomer sees them working."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from incidents.models import Incident

pytestmark = pytest.mark.django_db


def test_the_demo_fills_twelve_months_and_the_error_budgets(settings, client):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    client.force_login(get_user_model().objects.get(username="manager"))
    response = client.get("/reports/")
    assert response.status_code == 200
    months = response.context["months"]["rows"]
    assert all(row["row"].count for row in months[:-1]), [(r["label"], r["row"].count) for r in months]
    # The history was acknowledged, mitigated and resolved at different times.
    busiest = max(months, key=lambda r: r["row"].count)["row"]
    assert busiest.medians["ack_reported"] < busiest.medians["mitigate_reported"] < busiest.medians["resolve_reported"]
    budgets = [row.budget for row in response.context["services"] if row.budget]
    assert len(budgets) == 3
    assert Incident.objects.count() == 201  # and the restricted security incident
