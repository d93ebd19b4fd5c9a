"""Demo users, services and incidents for a local run. Safe to run again: it adds nothing twice."""

import random
from datetime import time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F
from django.utils.timezone import now

from incidents import roles, workflow
from incidents.models import (
    CustomField,
    Incident,
    IncidentType,
    ResponseRole,
    ReviewSection,
    Rotation,
    RotationMember,
    Service,
    Severity,
    Status,
    StatusSubscriber,
    StatusUpdate,
    Subscription,
    TimelineEntry,
)
from incidents.oncall import paging
from incidents.signals import demo_seeded

DEMO_PASSWORD = "beacon-demo"
# The first service's stakeholder list: outside addresses that hear its public updates.
DEMO_STAKEHOLDERS = ["cto@partner.example", "support@partner.example"]
# A customer who asked the status page for email updates about every service (and confirmed).
DEMO_STATUS_SUBSCRIBER = "customer@example.net"

# (name, description, availability objective in per cent per month: its error budget on /reports/)
SERVICES = [
    ("Checkout", "Basket, payment and order confirmation.", "99.9"),
    ("Search", "Product search and suggestions.", "99.5"),
    ("Accounts", "Sign-in, sign-up and profiles.", "99.9"),
    ("Notifications", "Order and delivery emails and push messages.", None),
]
# The first RECENT incidents happened in the last 90 days; the rest spread over the year before
# today, so that /reports/ shows twelve months of trends.
RECENT = 60

TITLES = [
    "Checkout returns 500 for card payments",
    "Search results take over 10 seconds",
    "Users logged out every few minutes",
    "Order confirmation emails delayed",
    "Spike of 502s from the load balancer",
    "Password reset links expired on arrival",
    "Search suggestions show stale products",
    "Push notifications sent twice",
    "Payment provider timeouts",
    "Database CPU at 100%",
    "Images not loading on product pages",
    "Disk almost full on the mail relay",
]


class Command(BaseCommand):
    help = "Create demo users (one per role), 4 services and about 200 incidents over a year. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")
        parser.add_argument(
            "--incidents",
            type=int,
            default=200,
            help="How many demo incidents to create (and one restricted security incident).",
        )

    def handle(self, *args, force=False, incidents=200, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates users with known passwords; with DEBUG off, pass --force.")
        with transaction.atomic():
            users = self.create_users()
            services = self.create_services()
            created = 0
            # The demo reporter's own incidents mark a database that is already seeded.
            if not Incident.objects.filter(reporter=users[roles.REPORTER]).exists():
                created = self.create_incidents(users, services, incidents)
            published = self.publish_some(users[roles.REPORTER], users[roles.RESPONDER])
            if created:
                self.create_restricted(users, services)
                demo_seeded.send(sender=self.__class__, users=users)
            self.create_rotation(users)
            self.create_audience(users, services)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} incidents created)."))
        if published:
            self.stdout.write(f"{published} of them made public: see http://127.0.0.1:8000/status/")
        self.stdout.write(f"Sign in at http://127.0.0.1:8000/ as any of these (password: {DEMO_PASSWORD}):")
        for role in roles.ROLES:
            self.stdout.write(f"  {role.lower():<10} {role}")
        self.stdout.write(f"  {'security':<10} Responder in the Security group: sees the restricted security incident")

    def create_users(self) -> dict:
        User = get_user_model()
        users = {}
        for role in roles.ROLES:
            username = role.lower()
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": role, "last_name": "Demo", "email": f"{username}@example.com"},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            user.groups.add(Group.objects.get(name=role))
            users[role] = User.objects.get(pk=user.pk)  # fresh, so cached permissions include the group
        return users

    def create_restricted(self, users, services) -> Incident:
        """A restricted security incident (need-to-know): reported and led by the Security group's
        member, with the viewer added by name; the demo reporter and responder do not see it."""
        User = get_user_model()
        security, created = User.objects.get_or_create(
            username="security",
            defaults={"first_name": "Security", "last_name": "Demo", "email": "security@example.com"},
        )
        if created:
            security.set_password(DEMO_PASSWORD)
            security.save()
        security.groups.add(Group.objects.get(name=roles.RESPONDER), Group.objects.get(name=roles.SECURITY))
        security = User.objects.get(pk=security.pk)
        security_type = IncidentType.objects.get(slug="security")
        self.create_security_policy(security_type)
        incident = workflow.report(
            by=security,
            type=security_type,
            custom_fields={"data_affected": "unknown", "customers_notified": "no"},
            title="API keys of the payment provider found in a public repository",
            description="A contractor's fork on GitHub contains .env with the live payment API key.",
            impact="None known yet: assess whether the key was used.",
            logs="",
            occurred_at=now() - timedelta(hours=2),
            severity=Severity.HIGH,
            service=services[0],
        )
        workflow.take(incident, by=security)
        workflow.add_participant(incident, by=security, user=users[roles.VIEWER])
        workflow.add_note(incident, by=security, text="Key revoked at the provider; new key deployed.")
        # Its response: the security checklist, half done, and the roles filled.
        for slug, person in [
            ("commander", security),
            ("communications", users[roles.MANAGER]),
            ("scribe", users[roles.VIEWER]),
        ]:
            workflow.assign_role(incident, by=security, role=ResponseRole.objects.get(slug=slug), user=person)
        tasks = {task.title: task for task in incident.tasks.all()}
        for title in ["Preserve evidence (logs, disk images) before changing systems", "Rotate credentials"]:
            if title in tasks:
                workflow.tick_task(incident, by=security, task=tasks[title], done=True)
        if "Assess data exposure" in tasks:
            workflow.assign_task(incident, by=security, task=tasks["Assess data exposure"], user=security)
        return incident

    def create_security_policy(self, security_type: IncidentType) -> None:
        """The Security type's custom fields and required review sections (docs/incident-types.md)."""
        fields = [
            (
                "data_affected",
                "Data affected?",
                CustomField.Kind.CHOICE,
                True,
                "yes\nno\nunknown",
                "Personal or customer data.",
            ),
            ("customers_notified", "Customers notified?", CustomField.Kind.CHOICE, False, "yes\nno", ""),
            (
                "credentials_rotated_on",
                "Credentials rotated on",
                CustomField.Kind.DATE,
                False,
                "",
                "When the exposed secrets were replaced.",
            ),
        ]
        for position, (name, label, kind, required, choices, help_text) in enumerate(fields, start=1):
            CustomField.objects.get_or_create(
                type=security_type,
                name=name,
                defaults={
                    "label": label,
                    "kind": kind,
                    "required": required,
                    "choices": choices,
                    "help_text": help_text,
                    "position": position * 10,
                },
            )
        sections = [
            ("data_exposure", "Data exposure", "What data was exposed, to whom, for how long."),
            ("disclosure_obligations", "Disclosure obligations", "Who must be told (regulators, customers) and when."),
        ]
        for position, (name, title, guidance) in enumerate(sections, start=1):
            ReviewSection.objects.get_or_create(
                type=security_type,
                name=name,
                defaults={"title": title, "guidance": guidance, "position": position * 10},
            )

    def create_services(self) -> list[Service]:
        return [
            Service.objects.get_or_create(
                name=name, defaults={"description": description, "availability_objective": objective}
            )[0]
            for name, description, objective in SERVICES
        ]

    def create_incidents(self, users, services, count: int) -> int:
        rng = random.Random(42)  # the same demo every time
        # The response times of the history, drawn apart from `rng` so that the first incidents
        # stay what they always were.
        pace = random.Random(7)
        reporter, responder = users[roles.REPORTER], users[roles.RESPONDER]
        manager = users[roles.MANAGER]
        severities = list(Severity)
        current = now()
        for i in range(count):
            if i < 8:
                age = timedelta(minutes=rng.uniform(5, 600))
            else:
                age = timedelta(days=rng.uniform(0, 90) if i < RECENT else pace.uniform(90, 365))
            started = current - age
            incident = workflow.report(
                by=reporter,
                title=rng.choice(TITLES),
                description="Several customers reported this through support. Dashboards confirm it.",
                impact=rng.choice(["All users on the web shop.", "About 5% of sign-ins.", "Internal only."]),
                logs="ERROR 2026-11-27T03:12:09Z checkout.api upstream timed out (10003ms)\n  at pay()",
                occurred_at=started,
                severity=severities[i % 4].value,
                service=services[i % len(services)],
            )
            # Spread the history: move the report back to when it happened.
            Incident.objects.filter(pk=incident.pk).update(reported_at=started + timedelta(minutes=3))
            TimelineEntry.objects.filter(incident=incident).update(created_at=started + timedelta(minutes=3))
            incident.refresh_from_db()
            # The first eight are today's (reported, acknowledged, mitigated); the history behind
            # them is over: resolved or closed, with one in seven still resolved awaiting review.
            stage = i % 3 if i < 8 else (3 if i % 7 == 0 else 4)
            # The history was handled back then: acknowledged, mitigated and resolved minutes to
            # hours apart. Each step is moved back after it is taken (move_back shifts every step
            # so far), so that they end at these times.
            history = i >= 8
            if history:
                # Mitigated 20 minutes to 4 hours after it started (as this demo always had it),
                # acknowledged on the way there, resolved up to 12 hours later.
                mitigated = started + timedelta(minutes=rng.uniform(20, 240))
                acknowledged = started + timedelta(minutes=3) + (mitigated - started) * pace.uniform(0.05, 0.6)
                resolved = min(mitigated + timedelta(minutes=pace.uniform(15, 720)), current - timedelta(minutes=5))
                resolved = max(resolved, started + timedelta(minutes=4))
                mitigated = min(mitigated, resolved)
                acknowledged = min(acknowledged, mitigated)
            if stage >= 1:
                workflow.acknowledge(incident, by=responder)
                workflow.add_note(incident, by=responder, text="Looking at the dashboards. **Error rate is up.**")
                if history:
                    self.move_back(incident, by=mitigated - acknowledged)
            if stage >= 2:
                workflow.mitigate(incident, by=responder, text="Rolled back the last deploy.")
                if history:
                    self.move_back(incident, by=resolved - mitigated)
            if stage >= 3:
                workflow.resolve(
                    incident, by=responder, summary="Rolled back; error rate normal for 30 minutes.", confirmed=True
                )
            if stage >= 4:
                try:
                    workflow.close(incident, by=manager)
                except workflow.InvalidTransition:
                    pass  # the close policy wants a published review first (Critical, High): stays resolved
            if history:
                self.move_back(incident, by=current - resolved)
        return count

    def publish_some(self, reporter, responder) -> int:
        """Put a few demo incidents on the status page with public updates, so it is not empty.

        Once only: nothing happens when a demo incident is public already. Two open incidents
        and up to two resolved in the status page's 14-day window are made public.
        """
        demo = Incident.objects.filter(reporter=reporter)
        if demo.filter(public=True).exists():
            return 0
        active = list(demo.open().order_by("pk")[:2])
        recent = now() - timedelta(days=13)
        resolved = list(demo.filter(status=Status.RESOLVED, resolved_at__gte=recent).order_by("pk")[:2])
        for incident in active:
            workflow.set_public(incident, by=responder, public=True)
            workflow.post_update(
                incident,
                by=responder,
                public=True,
                message="We are investigating errors. More soon.",
                phase="Investigating",
            )
        if active:
            # One internal update beside them, to show the status page leaves it out.
            workflow.post_update(
                active[0], by=responder, public=False, message="Internal: suspect last night's deploy; paging the DBA."
            )
        for incident in resolved:
            workflow.set_public(incident, by=responder, public=True)
            messages = ["We are investigating errors. More soon.", "The problem is fixed; everything works normally."]
            for minutes, message, phase in zip((40, 1), messages, ("Investigating", "Resolved"), strict=True):
                update = workflow.post_update(incident, by=responder, public=True, message=message, phase=phase)
                # Resolved back then: its updates belong before the resolution, not now.
                at = max(incident.resolved_at - timedelta(minutes=minutes), incident.reported_at)
                StatusUpdate.objects.filter(pk=update.pk).update(created_at=at)
                TimelineEntry.objects.filter(incident=incident, data__update_id=update.pk).update(created_at=at)
        return len(active) + len(resolved)

    def create_audience(self, users, services) -> None:
        """Who hears about incidents besides the lead, so the first run shows mail flowing: the
        viewer follows the first service, two outside addresses are on its stakeholder list, and
        one customer subscribed to every service on the status page (the demo reporter follows
        their own reports already). Once only."""
        service = services[0]
        Subscription.objects.get_or_create(user=users[roles.VIEWER], service=service)
        for address in DEMO_STAKEHOLDERS:
            Subscription.objects.get_or_create(email=address, service=service)
        StatusSubscriber.objects.get_or_create(email=DEMO_STATUS_SUBSCRIBER)

    def create_rotation(self, users) -> None:
        """One default rotation, the demo responder and manager taking turns daily, so the
        dashboard shows who is on call. Once only: an existing default rotation is left alone."""
        if Rotation.objects.filter(is_default=True).exists():
            return
        rotation = Rotation.objects.create(
            name="Demo on call",
            is_default=True,
            shift_kind=Rotation.ShiftKind.DAILY,
            handoff_time=time(9, 0),
            time_zone=settings.TIME_ZONE,
            start_date=now().date() - timedelta(days=7),
        )
        for position, role in enumerate([roles.RESPONDER, roles.MANAGER]):
            RotationMember.objects.create(rotation=rotation, user=users[role], position=position)
        paging.schedule_next_handoff(rotation)

    def move_back(self, incident: Incident, *, by: timedelta) -> None:
        """Older demo incidents were handled back then, not just now."""
        # A timestamp that was never set stays NULL: NULL minus an interval is NULL.
        fields = ["acknowledged_at", "mitigated_at", "resolved_at", "closed_at"]
        Incident.objects.filter(pk=incident.pk).update(**{f: F(f) - by for f in fields})
        TimelineEntry.objects.filter(incident=incident).exclude(kind=TimelineEntry.Kind.REPORTED).update(
            created_at=F("created_at") - by
        )
