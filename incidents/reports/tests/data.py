"""A fixed set of incidents whose report figures are computed by hand in test_figures.py.

The clock stands at NOW (Wednesday 15 April 2026, 13:00 in London, BST). All times below are UTC.
"""

from datetime import UTC, datetime

import time_machine

from incidents import workflow
from incidents.models import Incident
from incidents.tests.factories import ServiceFactory, make_incident

NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
ZONE = "Europe/London"


def at(month, day, hour, minute=0, year=2026):
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _incident(by, service, title, severity, occurred, reported, ack=None, mitigated=None, resolved=None):
    incident = make_incident(by=by, service=service, title=title, severity=severity, occurred_at=occurred)
    status = (
        Incident.Status.RESOLVED
        if resolved
        else Incident.Status.MITIGATED
        if mitigated
        else Incident.Status.ACKNOWLEDGED
        if ack
        else Incident.Status.REPORTED
    )
    Incident.objects.filter(pk=incident.pk).update(
        reported_at=reported, acknowledged_at=ack, mitigated_at=mitigated, resolved_at=resolved, status=status
    )
    incident.refresh_from_db()
    return incident


def build(users) -> dict:
    """The data set; returns the incidents by letter."""
    reporter, responder, manager = users["reporter"], users["responder"], users["manager"]
    checkout = ServiceFactory(name="Checkout")
    search = ServiceFactory(name="Search")
    found = {"checkout": checkout, "search": search}
    # A: Critical, across the end of January (23:00 31 Jan -> mitigated 01:00 1 Feb; GMT = UTC then).
    found["A"] = _incident(
        reporter, checkout, "Checkout is down", "critical",
        at(1, 31, 23), at(1, 31, 23, 10), at(1, 31, 23, 14), at(2, 1, 1), at(2, 1, 2, 10),
    )  # fmt: skip
    # B: High, acknowledged after 20 min (target 15: late).
    found["B"] = _incident(
        reporter, checkout, "Payment errors", "high",
        at(1, 10, 10), at(1, 10, 10), at(1, 10, 10, 20), at(1, 10, 11), at(1, 10, 12),
    )  # fmt: skip
    # C: Medium, mitigated, never resolved.
    found["C"] = _incident(
        reporter, checkout, "Slow basket", "medium",
        at(1, 20, 8, 30), at(1, 20, 9), at(1, 20, 9, 30), at(1, 20, 10, 30),
    )  # fmt: skip
    # H: Low, the same title as B 26 days later: a repeat offender.
    found["H"] = _incident(
        reporter, checkout, "Payment errors", "low",
        at(2, 5, 10), at(2, 5, 10), at(2, 5, 10, 10), at(2, 5, 10, 10), at(2, 5, 10, 30),
    )  # fmt: skip
    # D: High, resolved, reopened the next morning and resolved again, all through the workflow.
    with time_machine.travel(at(2, 10, 10), tick=False):
        d = make_incident(by=reporter, service=search, title="Search timeouts", severity="high",
                          occurred_at=at(2, 10, 9, 50))  # fmt: skip
    with time_machine.travel(at(2, 10, 10, 5), tick=False):
        workflow.acknowledge(d, by=responder)
    with time_machine.travel(at(2, 10, 10, 30), tick=False):
        workflow.mitigate(d, by=responder)
    with time_machine.travel(at(2, 10, 11), tick=False):
        workflow.resolve(d, by=responder, summary="Index rebuilt.", confirmed=True)
    with time_machine.travel(at(2, 11, 9), tick=False):
        workflow.reopen(d, by=responder, reason="Timeouts again.")
    with time_machine.travel(at(2, 11, 12), tick=False):
        workflow.resolve(d, by=responder, summary="Shard moved.", confirmed=True)
    d.refresh_from_db()
    found["D"] = d
    # E: Low, over the clocks going forward (29 March 2026, 01:00 UTC): reported 00:30 GMT,
    # acknowledged 02:30 BST, which is 60 minutes later, not 120.
    found["E"] = _incident(
        reporter, search, "Index lag", "low",
        at(3, 29, 0, 20), at(3, 29, 0, 30), at(3, 29, 1, 30), at(3, 29, 1, 40), at(3, 29, 2),
    )  # fmt: skip
    # F: Medium, reported 23:30 UTC on 31 March = 00:30 BST on 1 April: April's in London.
    found["F"] = _incident(
        reporter, checkout, "Card declines", "medium",
        at(3, 31, 23), at(3, 31, 23, 30), at(3, 31, 23, 45), at(4, 1, 0),
    )  # fmt: skip
    # G: Critical, restricted, reported by the manager: counted for managers only.
    g = _incident(
        manager, checkout, "Secret leak ZQXSECRET", "critical",
        at(3, 5, 10), at(3, 5, 10), at(3, 5, 10, 3), at(3, 5, 10, 30),
    )  # fmt: skip
    workflow.restrict(g, by=manager, reason="Customer data.")
    g.refresh_from_db()
    found["G"] = g
    return found
