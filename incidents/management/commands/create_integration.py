"""python manage.py create_integration KIND NAME — prints the token once, alone on the last line."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from incidents.models import Heartbeat, Integration


class Command(BaseCommand):
    help = "Create an inbound integration and print its token (only once, on the last line)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=Integration.Kind.values, help="alertmanager, grafana, webhook or api")
        parser.add_argument("name", help="A unique name, e.g. the Alertmanager's host.")
        parser.add_argument(
            "--heartbeat-minutes",
            type=int,
            help="Expect the Watchdog heartbeat at least this often (default: watched from the first "
            "heartbeat on, with ALERTMANAGER_HEARTBEAT_WINDOW_MINUTES).",
        )
        parser.add_argument(
            "--heartbeat-alertname",
            default="",
            help="The heartbeat alert's name (default: ALERTMANAGER_HEARTBEAT_ALERTNAME, Watchdog).",
        )

    def handle(self, *args, kind, name, heartbeat_minutes, heartbeat_alertname, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("The name must be 1 to 100 characters.")
        if Integration.objects.filter(name=name).exists():
            raise CommandError(f"An integration named “{name}” exists already; rotate its token in the admin.")
        if heartbeat_minutes is not None and heartbeat_minutes < 1:
            raise CommandError("--heartbeat-minutes must be at least 1.")
        heartbeat_alertname = heartbeat_alertname.strip()
        if len(heartbeat_alertname) > Heartbeat._meta.get_field("alertname").max_length:
            raise CommandError("--heartbeat-alertname must be at most 100 characters.")
        with transaction.atomic():
            integration = Integration(name=name, kind=kind)
            token = integration.set_new_token()
            integration.save()
            if heartbeat_minutes or heartbeat_alertname:
                # What is not given is what the first heartbeat would start with (heartbeat.beat).
                Heartbeat.objects.create(
                    integration=integration,
                    alertname=heartbeat_alertname or settings.ALERTMANAGER_HEARTBEAT_ALERTNAME,
                    window=timedelta(minutes=heartbeat_minutes or settings.ALERTMANAGER_HEARTBEAT_WINDOW_MINUTES),
                )
        self.stdout.write(f"Created the {integration.get_kind_display()} integration “{name}”.")
        if kind == Integration.Kind.WEBHOOK:
            # Without a mapping every delivery is refused (422): say where it is made.
            self.stdout.write(
                "Map the fields of its JSON body in the admin (Webhook mappings → Add) before it sends anything; "
                "it posts to /integrations/webhook/ (docs/webhooks-in.md)."
            )
        self.stdout.write("Its token follows; it is shown only now (Beacon keeps only a hash of it).")
        self.stdout.write(token)
