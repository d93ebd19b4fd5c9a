"""Every page a person uses, per role, and a small world for them to show.

The page tests (test_pages.py) walk this list at 390 px with and without JavaScript and run
axe-core on each. A page that a role may open must be listed for that role; a page that a
role is refused is not (incidents/tests/test_permissions.py checks the refusals).

Left out on purpose: the Django admin (Django's own pages, managers only), the API's
Swagger page (/api/docs: Swagger UI is a JavaScript application), machine endpoints (the
calendar feed, the Atom feed, /metrics, /healthz, the API), and the password-reset pages
reached only from an email's link with a valid token.
"""

import datetime as dt

from incidents import user_reports, workflow
from incidents.maintenance import rules as maintenance
from incidents.models import (
    CustomField,
    EscalationStep,
    IncidentType,
    Notification,
    ResponseRole,
    ReviewSection,
    Subscription,
    Team,
    TeamMembership,
    UpdateTemplate,
)
from incidents.notifications.subscribers import Request as SubscribeRequest
from incidents.notifications.subscribers import confirmation_token
from incidents.notifications.unsubscribe import unsubscribe_token
from incidents.oncall.tests.data import give_calendar_token, make_override, make_policy, make_rotation
from incidents.tests.factories import ServiceFactory, make_incident
from incidents.user_report_views import confirmation_token as user_report_token
from reviews import lifecycle
from reviews.models import Review
from reviews.tests.factories import backdate_due, make_item, make_review, resolved_incident

SIGNED_IN = ("reporter", "responder", "manager", "viewer")
WRITERS = ("responder", "manager")

# (url template, roles that open it). Placeholders are filled by `build_world`.
PAGES = [
    ("/", (*SIGNED_IN, "nobody")),
    ("/incidents/", SIGNED_IN),
    ("/incidents/?open=true&severity=critical", SIGNED_IN),
    ("/incidents/new/", ("reporter", "responder", "manager")),
    ("/incidents/new/?type=downtime", ("reporter", "responder", "manager")),  # the type's custom fields
    ("/incidents/{waiting}/", SIGNED_IN),  # reported, unacknowledged: Acknowledge, Mitigate…, Resolve…
    ("/incidents/{mitigated}/", SIGNED_IN),  # mitigated, a long timeline: Not mitigated…, older entries
    ("/incidents/{reviewed}/", SIGNED_IN),  # resolved, review in review: Reopen…, Close
    # Restricted security incident, the responder added by name: its roles held, checklist half done.
    ("/incidents/{security}/", ("responder", "manager")),
    ("/incidents/{waiting}/edit/", ("reporter", "responder", "manager")),
    ("/incidents/{duplicate}/", SIGNED_IN),  # closed into {waiting}: the banner, "Not a duplicate…"
    ("/incidents/{mitigated}/?template={template}", WRITERS),  # the update form filled in from a template
    ("/incidents/{waiting}/update/audience/", WRITERS),  # who hears an update, without JavaScript
    ("/services/{slug}/", SIGNED_IN),
    ("/reviews/", SIGNED_IN),
    ("/reviews/actions/", SIGNED_IN),
    ("/reviews/{reviewed}/", SIGNED_IN),  # in review: Approve and publish, Return to draft…
    ("/reviews/{draft}/", SIGNED_IN),
    ("/reviews/{waiting}/similar/", SIGNED_IN),  # what fixed it last time, without JavaScript
    ("/reviews/{draft}/edit/", WRITERS),
    ("/reviews/actions/{item}/edit/", WRITERS),
    ("/reviews/runbooks/{slug}/", SIGNED_IN),
    ("/reviews/runbooks/{slug}/edit/", WRITERS),
    ("/oncall/", SIGNED_IN),
    ("/reports/", SIGNED_IN),  # responders and managers: trends, charts, learning loop; others: services
    ("/oncall/load/", WRITERS),  # the on-call load report: those who are on call and lead
    ("/oncall/load/?month=2026-13", WRITERS),  # a bad month: the form with its message
    # Maintenance windows and silences in force, one over: managers schedule, responders silence.
    ("/maintenance/", SIGNED_IN),
    ("/oncall/rotations/new/", ("manager",)),
    ("/oncall/rotations/{rotation}/edit/", ("manager",)),
    ("/oncall/rotations/{rotation}/overrides/new/", ("manager",)),
    ("/oncall/policies/", SIGNED_IN),
    ("/oncall/policies/{policy}/", SIGNED_IN),  # the preview
    ("/oncall/policies/new/", ("manager",)),
    ("/oncall/policies/{policy}/edit/", ("manager",)),
    ("/accounts/profile/", (*SIGNED_IN, "nobody")),
    ("/accounts/profile/paging/", (*SIGNED_IN, "nobody")),
    ("/accounts/tokens/", SIGNED_IN),
    ("/accounts/password/", (*SIGNED_IN, "nobody")),
    ("/accounts/login/", ("anonymous",)),
    ("/accounts/password/reset/", ("anonymous",)),
    ("/accounts/password/reset/sent/", ("anonymous",)),
    ("/accounts/password/reset/MQ/bad-token/", ("anonymous",)),
    ("/unsubscribe/{unsubscribe}/", ("anonymous",)),
    ("/status/", ("anonymous",)),
    ("/status/incidents/{public}/", ("anonymous",)),
    ("/status/subscribe/", ("anonymous",)),
    ("/status/subscribe/sent/", ("anonymous",)),
    ("/status/subscribe/confirm/{confirm}/", ("anonymous",)),
    ("/status/subscribe/confirm/not-a-link/", ("anonymous",)),
    ("/status/report/", ("anonymous",)),
    ("/status/report/thanks/", ("anonymous",)),
    ("/status/report/confirm/{report_confirm}/", ("anonymous",)),
    ("/incidents/user-reports/", WRITERS),
    # Teams: the responder manages Payments (its member forms, the "my teams" line of the dashboard).
    ("/teams/", SIGNED_IN),
    ("/teams/{team}/", SIGNED_IN),
    ("/incidents/services/{slug}/stakeholders/", ("responder", "manager")),
    ("/retention/", ("manager",)),  # the policy form, what a run would remove, the last runs
]

# (role, url template) pairs, the parameters of the page tests.
# Pages that answer with an error status on purpose, and still must be usable.
STATUS = {"/status/subscribe/confirm/not-a-link/": 400, "/oncall/load/?month=2026-13": 400}

ROLE_PAGES = [(role, url) for url, roles in PAGES for role in roles]


def build_world(users: dict) -> dict:
    """Incidents in every state a page draws differently, a review in two states, a rotation.

    `users` is conftest's fixture of the same name (one user per role)."""
    reporter, responder, manager = users["reporter"], users["responder"], users["manager"]
    # Teams: the responder manages Payments (checkout), the reporter is in it; Search has no team.
    payments = Team.objects.create(name="Payments", description="Cards, invoices and refunds.")
    Team.objects.create(name="Platform")
    TeamMembership.objects.create(team=payments, user=responder, is_manager=True)
    TeamMembership.objects.create(team=payments, user=reporter)
    # An availability objective: the service page and /reports/ draw its error budget.
    checkout = ServiceFactory(name="Checkout", availability_objective="99.9", team=payments)
    search = ServiceFactory(name="Search")
    now = dt.datetime.now(dt.UTC)
    rotation = make_rotation(members=[responder, manager], services=[checkout, search])
    make_override(rotation, manager, now + dt.timedelta(days=1), now + dt.timedelta(days=1, hours=4))
    give_calendar_token(responder)
    Subscription.objects.create(user=reporter, service=checkout)

    # Downtime asks one field of each kind, and its reviews need a section: the report form, the
    # incident page, its edit page and the review pages show them.
    downtime = IncidentType.objects.get(slug="downtime")
    for position, (label, kind, choices) in enumerate(
        [
            ("Customers notified?", "choice", "yes\nno"),
            ("Orders lost", "number", ""),
            ("Detected on", "date", ""),
            ("Customer contact", "user", ""),
            ("Support ticket", "text", ""),
        ]
    ):
        CustomField.objects.create(type=downtime, label=label, kind=kind, choices=choices, position=position)
    ReviewSection.objects.create(type=downtime, title="Customer communication", guidance="Who was told what, when.")

    waiting = make_incident(
        by=reporter,
        custom_fields={"customers_notified": "no", "orders_lost": 12, "customer_contact": manager.pk},
        title="Checkout returns 500 for card payments after the 03:10 deploy",
        severity="critical",
        service=checkout,
        logs="ERROR upstream timed out (10003ms)\n  at pay() checkout/payments/provider.py:412",
    )
    make_incident(by=reporter, title="Search suggestions take 4 seconds", severity="low", service=search)

    mitigated = make_incident(by=reporter, title="Order confirmation emails delayed", severity="high", service=search)
    workflow.acknowledge(mitigated, by=responder)
    for n in range(12):
        workflow.add_note(mitigated, by=responder, text=f"Queue depth sample {n}: **{1000 - n * 50}** messages.")
    workflow.post_update(mitigated, by=responder, message="Emails are delayed by up to an hour.", public=True)
    workflow.set_public(mitigated, by=responder, public=True)
    workflow.mitigate(mitigated, by=responder, text="Added two workers.")
    # Related incidents: the links panel (and the review's list) with something in it.
    workflow.link(mitigated, other=waiting, kind="caused_by", by=responder)
    # Users' reports from the status page waiting for triage (the dashboard banner, the queue).
    user_reports.submit(what="The checkout page spins forever.", since="5 minutes", service=checkout)
    asked = user_reports.submit(what="Cannot pay.", email="ann@example.com")
    # A second report of the same outage, closed into the first: its banner, and the primary's list.
    duplicate = make_incident(by=reporter, title="Cannot pay with a card", service=checkout)
    workflow.mark_duplicate(duplicate, primary=waiting, by=responder, reason="Same 500s.")

    reviewed = make_review(
        responder=responder,
        state=Review.State.IN_REVIEW,
        incident=resolved_incident(by=reporter, responder=responder, title="Database CPU at 100%", severity="high"),
    )
    item = make_item(reviewed, by=responder, owner=responder)
    # Overdue: a pink row on the review and on the manager's dashboard.
    backdate_due(make_item(reviewed, by=responder, owner=manager, title="Alert on queue depth"), 3)
    draft = make_review(responder=responder)

    security = make_incident(
        by=manager,
        type=IncidentType.objects.get(slug="security"),
        title="API keys of the payment provider found in a public repository",
        service=checkout,
    )
    workflow.add_participant(security, by=manager, user=responder)
    workflow.assign_role(security, by=manager, role=ResponseRole.objects.get(slug="commander"), user=manager)
    workflow.assign_role(security, by=manager, role=ResponseRole.objects.get(slug="scribe"), user=responder)
    first, second, *_ = security.tasks.order_by("position")
    workflow.tick_task(security, by=manager, task=first, done=True)
    workflow.assign_task(security, by=manager, task=second, user=responder)
    workflow.add_task(security, by=responder, title="Ask the contractor to delete the fork and its history")
    lifecycle.save_runbook(checkout, by=responder, text="## Restart\n\n`systemctl restart checkout`", base_revision=0)

    notification = Notification.objects.filter(channel=Notification.Channel.EMAIL, user=reporter).first()
    assert notification is not None, "the world needs one email to unsubscribe from"
    # A window in progress on Checkout (the dashboard's card and badge, the status page), one
    # scheduled, one cancelled; a silence in force.
    maintenance.schedule_window(
        by=manager, services=[checkout], start=now, end=now + dt.timedelta(hours=2), description="Database upgrade"
    )
    maintenance.schedule_window(
        by=manager,
        services=[checkout, search],
        start=now + dt.timedelta(days=1),
        end=now + dt.timedelta(days=1, hours=1),
        description="Search index rebuild: results may be incomplete for an hour.",
    )
    maintenance.cancel_window(
        maintenance.schedule_window(
            by=manager,
            services=[search],
            start=now + dt.timedelta(days=2),
            end=now + dt.timedelta(days=3),
            description="x",
        ),
        by=manager,
    )
    maintenance.create_silence(
        by=responder,
        matchers=[
            {"name": "alertname", "op": "=", "value": "DiskFilling"},
            {"name": "instance", "op": "=~", "value": "db-.*"},
        ],
        expires_at=now + dt.timedelta(hours=2),
        comment="Known; the cleanup job runs at 04:00.",
    )
    return {
        "waiting": waiting.ref,
        "mitigated": mitigated.ref,
        "reviewed": reviewed.incident.ref,
        "draft": draft.incident.ref,
        "security": security.ref,
        "public": mitigated.ref,
        "item": item.pk,
        "slug": checkout.slug,
        "rotation": rotation.pk,
        "team": payments.slug,
        "policy": make_policy(
            "Checkout urgent",
            steps=[
                {"target": EscalationStep.Target.ON_CALL, "rotation": rotation, "delay_minutes": 5},
                {"target": EscalationStep.Target.MANAGERS, "delay_minutes": 10},
            ],
            services=[checkout],
        ).pk,
        "unsubscribe": unsubscribe_token(notification),
        "template": UpdateTemplate.objects.get(name="Identified").pk,
        "duplicate": duplicate.ref,
        "report_confirm": user_report_token(asked),
        "confirm": confirmation_token(SubscribeRequest(email="ann@example.com", service_ids=(checkout.pk,))),
    }
