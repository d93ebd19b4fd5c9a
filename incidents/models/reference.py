from django.db import models
from django.db.models import F


class ReferenceGeneration(models.Model):
    """One row (pk 1): a counter bumped in the same transaction as any change to the reference
    data the alert intake reads for every incident it opens (services, incident types, their
    custom fields and checklists, outgoing webhooks). Each process keeps its copy of that data
    under the count it was read at (incidents/reference.py), so a committed change is never
    read stale, whichever process serves the next alert."""

    generation = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Reference data generation {self.generation}"

    @staticmethod
    def bump() -> None:
        """Count a change, in the caller's transaction (incidents/reference.py's bump() also drops
        this process's copies)."""
        rows = ReferenceGeneration.objects
        if not rows.filter(pk=1).update(generation=F("generation") + 1):
            # The row the migration creates is gone (a flushed test database).
            rows.bulk_create([ReferenceGeneration(pk=1, generation=1)], ignore_conflicts=True)
