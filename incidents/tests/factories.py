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


def make_incident(*, by=None, service=None, follow=False, **fields) -> Incident:
    """An incident reported through workflow.report. The reporter does not follow it unless
    `follow` (reporting makes them follow by default): most tests check one rule of who hears
    what, and a reporter following every incident would be in each of their recipient lists."""
    values = {
        "title": "Checkout is down",
        "description": "Card payments fail with a 500.",
        "impact": "No customer can pay.",
        "occurred_at": now() - timedelta(minutes=10),
        "severity": Incident.Severity.HIGH,
        "logs": "",
    }
    values.update(fields)
    return workflow.report(by=by, service=service or ServiceFactory(name="Checkout"), follow=follow, **values)


# The inlines of an incident type's admin page (incidents/admin.py IncidentTypeAdmin).
TYPE_INLINES = ("custom_fields", "review_sections", "checklist")


def type_inlines_unchanged(**overrides: str) -> dict[str, str]:
    """The management forms an incident type's admin page posts when no inline row is sent; a test
    adds its own rows (and their TOTAL_FORMS) through `overrides`."""
    forms = {f"{inline}-{key}": "0" for inline in TYPE_INLINES for key in ("TOTAL_FORMS", "INITIAL_FORMS")}
    return {**forms, **overrides}
