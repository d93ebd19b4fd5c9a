"""Schedule the next escalations and handoffs again, e.g. after a worker was killed or a restore."""

from django.core.management.base import BaseCommand
from django.db import transaction

from incidents.oncall import paging


class Command(BaseCommand):
    help = (
        "Schedule again the next escalation of every unacknowledged Critical/High incident and the next "
        "handoff of every rotation. Safe to repeat: what was done already is not done twice."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            incidents, rotations = paging.rearm()
        self.stdout.write(
            f"Scheduled escalations for {incidents} incident(s) and handoffs for {rotations} rotation(s)."
        )
