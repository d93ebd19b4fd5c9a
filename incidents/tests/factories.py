"""Factories with fixed defaults: tests override only what they are about.

Incidents are created through workflow.report, so each has its `reported` timeline
entry exactly as in production; use the workflow functions to move them on.
"""

from datetime import timedelta

import factory
from django.utils.timezone import now

from incidents import workflow
from incidents.models import Incident, Service


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Service {n}")
    description = "A service."


def make_incident(*, by=None, service=None, **fields) -> Incident:
    values = {
        "title": "Checkout is down",
        "description": "Card payments fail with a 500.",
        "impact": "No customer can pay.",
        "occurred_at": now() - timedelta(minutes=10),
        "severity": Incident.Severity.HIGH,
        "logs": "",
    }
    values.update(fields)
    return workflow.report(by=by, service=service or ServiceFactory(name="Checkout"), **values)
