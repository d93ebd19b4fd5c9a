from django.db import models
from django.db.models import F


class Generation(models.Model):
    """One row (pk 1) counting changes, bumped in the same transaction as each change it counts:
    whoever keeps copies keeps them under the count they read, and a count that moved makes every
    copy old, in every process (the status page's cached pages, the intake's reference data)."""

    generation = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    @classmethod
    def bump(cls, **also) -> None:
        """Count a change in the caller's transaction; `also`: other columns to set with it."""
        rows = cls._default_manager
        if not rows.filter(pk=1).update(generation=F("generation") + 1, **also):
            # The row the migration creates is gone (a flushed test database).
            first = cls(generation=1, **also)
            first.pk = 1
            rows.bulk_create([first], ignore_conflicts=True)


class ReferenceGeneration(Generation):
    """The count of changes to the reference data the alert intake reads for every incident it
    opens (services, incident types, their custom fields and checklists, outgoing webhooks, on-call
    rotations with their members, overrides and people). Each process keeps its copy of that data
    under the count it was read at (incidents/reference.py; bump() there also drops this process's
    copies), so a committed change is never read stale, whichever process serves the next alert."""

    def __str__(self) -> str:
        return f"Reference data generation {self.generation}"
